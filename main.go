// Command authsmtp runs a whole small mail host from one binary:
// authenticated SMTP submission, an inbound MX, an outbound queue, IMAP,
// a web admin panel with webmail, and automatic TLS, all in one bbolt file.
//
// authsmtp serve runs the server (internal/serve); the other commands
// administer it (internal/cli), going through the running server's control
// socket when one runs. This file only hands the first word over.
package main

import (
	"io"
	"os"

	"github.com/authsmtp/authsmtp/internal/cli"
	"github.com/authsmtp/authsmtp/internal/serve"
)

// version is the build's version, set with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run is main without the process.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "serve" {
		return serve.Main(args[1:], stdout, stderr, version)
	}
	return cli.Main(args, stdin, stdout, stderr)
}
