package cli

import (
	"io"

	"github.com/authsmtp/authsmtp/acme"
	"github.com/authsmtp/authsmtp/internal/config"
	"github.com/authsmtp/authsmtp/internal/dnsrecords"
	"github.com/authsmtp/authsmtp/store"
)

// Env is what an admin command runs with. The same function runs in
// the CLI process (store opened directly) or inside the running server
// (through the control socket), so both paths behave the same.
type Env struct {
	St    *store.Store
	Args  []string // positional arguments after the command words
	Flags map[string]string
	Stdin io.Reader
	Out   io.Writer
	// Live is set when the command runs inside serve: the few things a
	// command asks of the running server.
	Live Live
	// Cfg is the configuration (of the server, or of the CLI process).
	Cfg config.Config
	// TTY says the user's output is a terminal (progress bars).
	TTY bool
}

// Live is what a command may ask of the server it runs in. The server
// implements it; commands never see the server's type.
type Live interface {
	// TLSStatus is the status of the certificates served now.
	TLSStatus() []acme.CertStatus
	// ServedPorts are the ports the listeners really got (0: off).
	ServedPorts() dnsrecords.Ports
	// FlushTLSResults saves the outbound TLS results counted in memory;
	// false when the server does not count them (capture mode, relay).
	FlushTLSResults() (bool, error)
}

// Command is one admin command: its words ("domain add"), usage, whether
// it reads stdin, and its body.
type Command struct {
	Words  string
	Usage  string
	Stdin  bool
	Local  bool // never sent to the server (restore)
	NArgs  [2]int
	Run    func(e *Env) error
	Extras []string // its own flags: "keep" (boolean) or "send-as=" (takes a value)
	Paths  []int    // indexes of arguments that are file paths (made absolute)

	// NoStore: a Local command that opens no store itself (restore puts a
	// file in place; healthcheck talks to the server over the network).
	NoStore bool
	// Hidden commands are not listed in the usage (internal helpers).
	Hidden bool
}

// commands is the whole admin command set, in help order. Each noun keeps
// its commands in its own file (domain.go, user.go ...) and adds one line
// here.
func commands() []Command {
	var cmds []Command
	cmds = append(cmds, domainCommands()...)
	cmds = append(cmds, userCommands()...)
	cmds = append(cmds, junkCommands()...)
	cmds = append(cmds, aliasCommands()...)
	cmds = append(cmds, queueCommands()...)
	cmds = append(cmds, tlsCommands()...)
	cmds = append(cmds, dmarcCommands()...)
	cmds = append(cmds, backupCommands()...)
	cmds = append(cmds, storeCommands()...)
	cmds = append(cmds, transferCommands()...)
	cmds = append(cmds, healthCommands()...)
	return cmds
}
