// Package assets holds the web UI's templates, stylesheet, script and
// icons, compiled into the binary with go:embed so authsmtp stays one file.
//
// The folder is named embed (the layout of the design card); the package
// is named assets so it does not shadow the standard library's embed.
package assets

import (
	"embed"
	"io/fs"
)

//go:embed templates/*.html
var templates embed.FS

//go:embed static
var static embed.FS

// Templates returns the HTML templates (html/template syntax), one file
// per page plus layout.html, at the root of the returned FS.
func Templates() fs.FS {
	sub, _ := fs.Sub(templates, "templates")
	return sub
}

// Static returns the files served under /static/ (CSS, JS, icons).
func Static() fs.FS {
	sub, _ := fs.Sub(static, "static")
	return sub
}
