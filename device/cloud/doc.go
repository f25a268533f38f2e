// Package cloud owns the cloud protocol, both ends: the cloud server (the
// МодульКасса-compatible shop API under /api/fn and our register API under
// /api/device/v1, kept in its own bbolt file), the shop document and its
// conversion into a fiscal.Receipt, and the register's side (Client and Poller).
//
// The cloud never fiscalizes, numbers or signs anything: the drive behind the
// register is the only source of fiscal data, and the cloud only relays what the
// register reports. It never hands one retail point's documents to another's
// credentials or register.
package cloud
