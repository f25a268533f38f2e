package fn

// JournalFile is the journal's file, for the power-loss tests.
type JournalFile = journalFile

// SetOpenJournalFile makes the drive open its journal's file with open until
// the returned restore is called.
func SetOpenJournalFile(open func(path string) (JournalFile, error)) (restore func()) {
	old := openJournalFile
	openJournalFile = open
	return func() { openJournalFile = old }
}
