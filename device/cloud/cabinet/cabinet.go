// Package cabinet holds the owner's cabinet's templates (templates/*.html, each
// page rendered inside layout.html) and its static files (static/), embedded so
// the cloud is one binary. The pages are server-rendered and need no script.
package cabinet

import "embed"

// Files holds templates/ and static/.
//
//go:embed templates static
var Files embed.FS
