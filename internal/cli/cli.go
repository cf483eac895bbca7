// Package cli is authsmtp's admin commands, grouped by noun (domain.go,
// user.go, alias.go, queue.go, tls.go, backup.go, transfer.go ...). A
// command runs in this process on the store opened here, or, when a
// server runs on the data directory (it holds the file lock), inside that
// server: the CLI sends it over the control socket (control.go) and the
// server runs the same function. A command never knows the server's type:
// the few live things it needs come through the Live interface.
//
// It may import internal/config, internal/dnsrecords, the store and the
// protocol packages' exported helpers; never internal/serve or main.
package cli

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/authsmtp/authsmtp/internal/config"
	"github.com/authsmtp/authsmtp/store"
)

// Find is the command named by words ("domain add").
func Find(words string) (Command, bool) {
	for _, c := range commands() {
		if c.Words == words {
			return c, true
		}
	}
	return Command{}, false
}

// Usage prints the command list.
func Usage(w io.Writer) {
	fmt.Fprintln(w, "usage: authsmtp serve [flags]       run the mail server (authsmtp serve --demo for a ready demo)")
	usageOf(w, nil, "       ")
	fmt.Fprintln(w, "Every command takes --data DIR (default ./data; env AUTHSMTP_DATA). See authsmtp serve -h for all flags.")
}

// usageOf prints the usage line of every listed command whose words start
// with prefix ("domain"), and reports how many it printed.
func usageOf(w io.Writer, prefix []string, indent string) int {
	n := 0
	for _, c := range commands() {
		words := strings.Fields(c.Words)
		if c.Hidden || len(words) < len(prefix) || strings.Join(words[:len(prefix)], " ") != strings.Join(prefix, " ") {
			continue
		}
		fmt.Fprintf(w, "%sauthsmtp %s %s\n", indent, c.Words, c.Usage)
		n++
	}
	return n
}

// leadingWords are the arguments before the first flag ("domain add").
func leadingWords(args []string) []string {
	for i, a := range args {
		if strings.HasPrefix(a, "-") {
			return args[:i]
		}
	}
	return args
}

// Main runs the admin command in args (everything but serve) and returns
// the exit status: 0 done, 1 failed, 2 a usage error. Asked-for help goes
// to stdout; an error is one line on stderr.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		Usage(stderr)
		return 2
	}
	if args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		if w := leadingWords(args[1:]); len(w) > 0 && usageOf(stdout, w, "usage: ") > 0 {
			return 0
		}
		Usage(stdout)
		return 0
	}
	return runAdmin(args, stdin, stdout, stderr)
}

func runAdmin(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cfg := config.Default()
	args, flags := splitExtraFlags(args)
	pos, err := cfg.Parse(args[0], args)
	if errors.Is(err, flag.ErrHelp) {
		if usageOf(stdout, leadingWords(args), "usage: ") == 0 {
			Usage(stdout)
		}
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "authsmtp %s: %v\n", strings.Join(leadingWords(args), " "), err)
		return 2
	}
	// Find the longest command whose words start the arguments.
	var cmd Command
	var n int
	for _, c := range commands() {
		w := strings.Fields(c.Words)
		if len(w) <= len(pos) && strings.Join(pos[:len(w)], " ") == c.Words && len(w) > n {
			cmd, n = c, len(w)
		}
	}
	if n == 0 {
		// A noun alone ("authsmtp domain") lists what it can do.
		if len(pos) == 1 && usageOf(stdout, pos, "usage: ") > 0 {
			return 0
		}
		if len(pos) > 1 && usageOf(io.Discard, pos[:1], "") > 0 {
			fmt.Fprintf(stderr, "authsmtp: unknown command %q (authsmtp %s lists its commands)\n", strings.Join(pos, " "), pos[0])
			return 2
		}
		fmt.Fprintf(stderr, "authsmtp: unknown command %q (authsmtp help lists the commands)\n", strings.Join(pos, " "))
		return 2
	}
	cargs := pos[n:]
	if len(cargs) < cmd.NArgs[0] || len(cargs) > cmd.NArgs[1] {
		fmt.Fprintf(stderr, "usage: authsmtp %s %s\n", cmd.Words, cmd.Usage)
		return 2
	}
	// Paths are resolved here, where the user's working directory is.
	for i, a := range cargs {
		if cmd.pathArg(i) && a != "" && a != "-" && !filepath.IsAbs(a) {
			if abs, err := filepath.Abs(a); err == nil {
				cargs[i] = abs
			}
		}
	}
	var in []byte
	if cmd.Stdin {
		in, _ = io.ReadAll(io.LimitReader(stdin, 1<<20))
	}
	for name := range flags {
		if !cmd.acceptsExtra(name) {
			fmt.Fprintf(stderr, "authsmtp %s: unknown flag --%s\n", cmd.Words, name)
			return 2
		}
	}
	tty := isTerminal(stdout)
	if cmd.NoStore {
		env := &Env{Args: cargs, Flags: flags, Stdin: bytes.NewReader(in), Out: stdout, Cfg: cfg, TTY: tty}
		if err := Exec(cmd, env); err != nil {
			fmt.Fprintf(stderr, "authsmtp: %v\n", err)
			return 1
		}
		return 0
	}
	if !cmd.Local {
		req := Request{Words: cmd.Words, Args: cargs, Flags: flags, Stdin: in, TTY: tty}
		code, err := callServer(cfg.Data, cfg.ControlTimeout, req, stdout, stderr)
		if err == nil {
			return code
		}
		if !errors.Is(err, errNoServer) {
			fmt.Fprintf(stderr, "authsmtp: %v\n", err)
			return 1
		}
	}
	st, err := store.OpenBackend(cfg.Store, cfg.Data, store.Options{Logger: quietLogger()})
	if err != nil {
		fmt.Fprintf(stderr, "authsmtp: %v\n", err)
		return 1
	}
	defer st.Close()
	env := &Env{St: st, Args: cargs, Flags: flags, Stdin: bytes.NewReader(in), Out: stdout, Cfg: cfg, TTY: tty}
	if err := Exec(cmd, env); err != nil {
		fmt.Fprintf(stderr, "authsmtp: %v\n", err)
		return 1
	}
	return 0
}

// pathArg reports whether argument i of the command is a file path.
func (c Command) pathArg(i int) bool {
	for _, p := range c.Paths {
		if p == i {
			return true
		}
	}
	return false
}

// splitExtraFlags takes the commands' own flags (--keep, --send-as X)
// out of args, leaving the global ones for the flag package.
func splitExtraFlags(args []string) ([]string, map[string]string) {
	known := map[string]bool{} // name → takes a value
	for _, c := range commands() {
		for _, x := range c.Extras {
			known[strings.TrimSuffix(x, "=")] = strings.HasSuffix(x, "=")
		}
	}
	flags := map[string]string{}
	var rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			rest = append(rest, args[i:]...)
			break
		}
		name := strings.TrimLeft(a, "-")
		if !strings.HasPrefix(a, "-") || name == "" {
			rest = append(rest, a)
			continue
		}
		name, val, hasVal := strings.Cut(name, "=")
		takesValue, ok := known[name]
		if !ok {
			rest = append(rest, a)
			continue
		}
		if takesValue && !hasVal && i+1 < len(args) {
			i++
			val = args[i]
		}
		flags[name] = val
	}
	return rest, flags
}

// acceptsExtra reports whether the command takes --name.
func (c Command) acceptsExtra(name string) bool {
	for _, x := range c.Extras {
		if strings.TrimSuffix(x, "=") == name {
			return true
		}
	}
	return false
}

// isTerminal reports whether w is a terminal (a character device).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// quietLogger is the store's logger when a command opens the file itself:
// the command's own output says what happened.
func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}
