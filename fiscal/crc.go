package fiscal

// CRC16 is CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, no final
// xor): the checksum of the drive exchange frames, the FN–OFD containers and the
// registration number. Pass 0xFFFF as crc to start; pass a previous result to go on.
func CRC16(crc uint16, data []byte) uint16 {
	for _, b := range data {
		crc ^= uint16(b) << 8
		for i := 0; i < 8; i++ {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}
