// Package cloud is the register's side of the cloud protocol: the wire types of
// the register API (/api/device/v1), the shop's document and its conversion
// into a fiscal.Receipt, money, the HTTP Client and the Poller. The cloud
// itself is package server below.
package cloud
