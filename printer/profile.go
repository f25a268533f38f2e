package printer

// Profile is what the register must know about a printer model to print on it.
type Profile struct {
	Name        string
	Columns     int    // characters per line in font A: 32 (58 mm), 42 or 48 (80 mm)
	Dots        int    // printable width in dots: 384 for 58 mm, 512 or 576 for 80 mm
	CodePage    byte   // the ESC t number of CP866 on this model
	NativeQR    bool   // the model prints QR codes itself (GS ( k); otherwise a raster image is sent
	Cutter      bool   // the model has an autocutter (GS V)
	Baud        int    // serial speed the model ships with
	FlowControl string // serial handshake the model ships with: "none", "dtr/dsr", "xon/xoff"
}

// profiles: the numbers of the real models come from their vendors' technical
// references; those resting on one source or on sources that disagree are marked
// (check), as in FFD105.md.
var profiles = []Profile{
	// The emulator's own: Epson's geometry (font A is 12×24 dots at 203 dpi) and
	// Epson's ESC t number of PC866, 17.
	{Name: "emu-58", Columns: 32, Dots: 384, CodePage: 17, NativeQR: true, Cutter: true, Baud: 115200, FlowControl: "none"},
	{Name: "emu-80", Columns: 48, Dots: 576, CodePage: 17, NativeQR: true, Cutter: true, Baud: 115200, FlowControl: "none"},
	// Epson TM-T20II/III, 80 mm: 72 mm print width = 576 dots at 203 dpi, 48 columns of
	// font A 12×24; PC866 is page 17 of Epson's character code tables; GS ( k QR and
	// the autocutter are standard; the serial model's memory-switch default is
	// 38400 bps with DTR/DSR handshake (check).
	{Name: "epson-tm-t20", Columns: 48, Dots: 576, CodePage: 17, NativeQR: true, Cutter: true, Baud: 38400, FlowControl: "dtr/dsr"},
	// The same model switched to its 42-column mode: 512 dots (64 mm) printed.
	{Name: "epson-tm-t20-42", Columns: 42, Dots: 512, CodePage: 17, NativeQR: true, Cutter: true, Baud: 38400, FlowControl: "dtr/dsr"},
	// Xprinter XP-58IIH, 58 mm: 48 mm print width = 384 dots, 32 columns, no cutter
	// (torn by hand); PC866 at ESC t 17 as on Epson (check: the page number varies
	// by firmware); no GS ( k on older firmware, so QR goes as a raster image;
	// 9600 bps, no handshake (check).
	{Name: "xprinter-xp58", Columns: 32, Dots: 384, CodePage: 17, NativeQR: false, Cutter: false, Baud: 9600, FlowControl: "none"},
}

// Profiles returns the known printer models and the emulator's own ("emu-58", "emu-80").
func Profiles() []Profile {
	out := make([]Profile, len(profiles))
	copy(out, profiles)
	return out
}

// ProfileByName finds a profile by its name.
func ProfileByName(name string) (Profile, bool) {
	for _, p := range profiles {
		if p.Name == name {
			return p, true
		}
	}
	return Profile{}, false
}
