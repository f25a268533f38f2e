// Package board is the register's hardware layer, as periph.io's host is for
// periph: the only package of kassa that imports periph's drivers. It owns the
// periph.io host initialisation, the board profiles (which pin plays which
// role, at which active level, with which pull and debounce), the GPIO roles
// built on them (status LED, service button, paper sensor, cover switch,
// drawer kick, printer power), and the opening of serial ports and of the
// ptys the emulated drive and printer answer on.
//
// The rest of the firmware sees small values and interfaces from here, never a
// pin. This package must never decide anything about fiscal state: it shows
// what the runtime tells it to show and reports what the sensors say; and it
// must never fail a register that has no GPIO at all (profile "none", a PC,
// qemu-user), where every role simply reads as not wired.
package board
