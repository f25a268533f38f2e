// Package printer owns the receipt printer: the layout of signed fiscal documents
// and non-fiscal pages into printable lines, their ESC/POS encoding for a printer
// profile, the printer's status (DLE EOT) and the transport to it over any
// byte stream. Its emulator, which renders ESC/POS to text and PNG, lives in
// printer/emu.
//
// It never builds, signs or changes a fiscal document: it prints what the drive
// signed, and a print that fails is reported, never retried behind the caller's back.
package printer
