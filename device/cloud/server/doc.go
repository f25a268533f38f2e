// Package server is the cloud: the МодульКасса-compatible shop API under
// /api/fn, the register API under /api/device/v1, callbacks, alerts and the
// owner's cabinet. It keeps its state only through storage.Store: its own
// bbolt file by default (boltstore), or a store shared by several servers.
//
// The cloud never fiscalizes, numbers or signs anything: the drive behind the
// register is the only source of fiscal data, and the cloud only relays what the
// register reports. It never hands one retail point's documents to another's
// credentials or register.
package server
