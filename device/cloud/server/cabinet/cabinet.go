// Package cabinet holds the owner's cabinet's templates (templates/*.html, each
// page rendered inside layout.html) and its static files (static/), embedded so
// the cloud is one binary. The pages are server-rendered and need no script.
package cabinet

import (
	"embed"
	"io/fs"
)

// Files holds templates/ and static/.
//
//go:embed templates static
var Files embed.FS

// Static is static/ alone, the only part served as files: the templates are
// rendered, never sent.
var Static = func() fs.FS {
	sub, err := fs.Sub(Files, "static")
	if err != nil {
		panic(err) // static/ is embedded above
	}
	return sub
}()
