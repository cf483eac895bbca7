package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/authsmtp/authsmtp/store"
)

// cmdEnv is what an admin command runs with. The same function runs in
// the CLI process (store opened directly) or inside the running server
// (through the control socket), so both paths behave the same.
type cmdEnv struct {
	St    *store.Store
	Args  []string // positional arguments after the command words
	Flags map[string]string
	Stdin io.Reader
	Out   io.Writer
	// Server is set when the command runs inside serve; commands that need
	// the live server (backup, tls status) use it.
	Server *server
	// Cfg is the configuration (of the server, or of the CLI process).
	Cfg config
	// TTY says the user's output is a terminal (progress bars).
	TTY bool
}

// command is one admin command: its words ("domain add"), usage, whether
// it reads stdin, and its body.
type command struct {
	Words  string
	Usage  string
	Stdin  bool
	Local  bool // never sent to the server (restore)
	NArgs  [2]int
	Run    func(e *cmdEnv) error
	Extras []string // its own flags: "keep" (boolean) or "send-as=" (takes a value)
	Paths  []int    // indexes of arguments that are file paths (made absolute)

	// NoStore: a Local command that opens no store itself (restore puts a
	// file in place; healthcheck talks to the server over the network).
	NoStore bool
	// Hidden commands are not listed in the usage (internal helpers).
	Hidden bool
}

// commands is the whole admin command set, in help order. Each area keeps
// its commands in its own cmd_*.go file and adds one line here.
func commands() []command {
	var cmds []command
	cmds = append(cmds, accountCommands()...)
	cmds = append(cmds, tlsCommands()...)
	cmds = append(cmds, imapCommands()...)
	cmds = append(cmds, mailflowCommands()...)
	cmds = append(cmds, opsCommands()...)
	return cmds
}

// accountCommands manage domains, users and the admin login.
func accountCommands() []command {
	return []command{
		{Words: "domain add", Usage: "DOMAIN", NArgs: [2]int{1, 1}, Run: cmdDomainAdd},
		{Words: "domain enable", Usage: "DOMAIN smtp|webmail", NArgs: [2]int{2, 2}, Run: cmdDomainSwitch(true)},
		{Words: "domain disable", Usage: "DOMAIN smtp|webmail", NArgs: [2]int{2, 2}, Run: cmdDomainSwitch(false)},
		{Words: "domain password", Usage: "DOMAIN   (new password from stdin)", Stdin: true, NArgs: [2]int{1, 1}, Run: cmdDomainPassword},
		{Words: "domain list", NArgs: [2]int{0, 0}, Run: cmdDomainList},
		{Words: "domain remove", Usage: "DOMAIN", NArgs: [2]int{1, 1}, Run: cmdDomainRemove},
		{Words: "domain limit", Usage: "DOMAIN [per-hour=N] [per-day=N] [rcpts-per-day=N]", NArgs: [2]int{1, 4}, Run: cmdDomainLimit},
		{Words: "user add", Usage: "ADDRESS   (password from stdin)", Stdin: true, NArgs: [2]int{1, 1}, Run: cmdUserAdd},
		{Words: "user password", Usage: "ADDRESS   (new password from stdin)", Stdin: true, NArgs: [2]int{1, 1}, Run: cmdUserPassword},
		{Words: "user list", Usage: "[DOMAIN]", NArgs: [2]int{0, 1}, Run: cmdUserList},
		{Words: "user remove", Usage: "ADDRESS", NArgs: [2]int{1, 1}, Run: cmdUserRemove},
		{Words: "user limit", Usage: "ADDRESS [per-hour=N] [per-day=N] [rcpts-per-day=N]", NArgs: [2]int{1, 4}, Run: cmdUserLimit},
		{Words: "admin password", Usage: "  (new password from stdin)", Stdin: true, NArgs: [2]int{0, 0}, Run: cmdAdminPassword},
	}
}

// readSecret reads one line (a password) from stdin.
func readSecret(r io.Reader) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(r, 4096)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if strings.TrimSpace(line) == "" {
		return "", store.ErrEmptyPassword
	}
	return line, nil
}

func cmdDomainAdd(e *cmdEnv) error {
	d, err := e.St.AddDomain(e.Args[0])
	if err != nil {
		return err
	}
	fmt.Fprintf(e.Out, "added domain %s (Authenticated SMTP and Webmail are off: authsmtp domain enable %s smtp)\n", d.Name, d.Name)
	return nil
}

func cmdDomainSwitch(on bool) func(e *cmdEnv) error {
	return func(e *cmdEnv) error {
		if err := e.St.SetDomainSwitch(e.Args[0], e.Args[1], on); err != nil {
			return err
		}
		state := "off"
		if on {
			state = "on"
		}
		fmt.Fprintf(e.Out, "%s: %s is %s\n", e.Args[0], e.Args[1], state)
		return nil
	}
}

func cmdDomainPassword(e *cmdEnv) error {
	pw, err := readSecret(e.Stdin)
	if err != nil {
		return err
	}
	if err := e.St.SetDomainPassword(e.Args[0], pw); err != nil {
		return err
	}
	d, _ := store.DomainLogin(e.Args[0])
	fmt.Fprintf(e.Out, "password set for domain login %s\n", d)
	return nil
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

func cmdDomainList(e *cmdEnv) error {
	ds, err := e.St.ListDomains()
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(e.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DOMAIN\tSMTP\tWEBMAIL\tPASSWORD\tCREATED")
	for _, d := range ds {
		pw := "not set"
		if d.PasswordHash != "" {
			pw = "set"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", d.Name, onOff(d.SMTP), onOff(d.Webmail), pw, d.Created.Format("2006-01-02"))
	}
	return tw.Flush()
}

func cmdDomainRemove(e *cmdEnv) error {
	if err := e.St.RemoveDomain(e.Args[0]); err != nil {
		return err
	}
	fmt.Fprintf(e.Out, "removed domain %s\n", e.Args[0])
	return nil
}

// parseLimits reads per-hour=N style arguments into l.
func parseLimits(args []string, l *store.SendLimits) error {
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		var n int
		if _, err := fmt.Sscanf(v, "%d", &n); !ok || err != nil || n < 0 {
			return fmt.Errorf("bad limit %q: use per-hour=N, per-day=N or rcpts-per-day=N (0 = default)", a)
		}
		switch k {
		case "per-hour":
			l.PerHour = n
		case "per-day":
			l.PerDay = n
		case "rcpts-per-day":
			l.RcptsPerDay = n
		default:
			return fmt.Errorf("unknown limit %q: use per-hour, per-day or rcpts-per-day", k)
		}
	}
	return nil
}

func printLimits(w io.Writer, who string, l store.SendLimits) {
	show := func(n int) string {
		if n == 0 {
			return "default"
		}
		return fmt.Sprint(n)
	}
	fmt.Fprintf(w, "%s: per-hour=%s per-day=%s rcpts-per-day=%s\n", who, show(l.PerHour), show(l.PerDay), show(l.RcptsPerDay))
}

func cmdDomainLimit(e *cmdEnv) error {
	var out store.SendLimits
	err := e.St.UpdateDomain(e.Args[0], func(d *store.Domain) error {
		if err := parseLimits(e.Args[1:], &d.Limits); err != nil {
			return err
		}
		out = d.Limits
		return nil
	})
	if err != nil {
		return err
	}
	printLimits(e.Out, e.Args[0], out)
	return nil
}

func cmdUserLimit(e *cmdEnv) error {
	var out store.SendLimits
	err := e.St.UpdateUser(e.Args[0], func(u *store.User) error {
		if err := parseLimits(e.Args[1:], &u.Limits); err != nil {
			return err
		}
		out = u.Limits
		return nil
	})
	if err != nil {
		return err
	}
	printLimits(e.Out, e.Args[0], out)
	return nil
}

func cmdUserAdd(e *cmdEnv) error {
	pw, err := readSecret(e.Stdin)
	if err != nil {
		return err
	}
	u, err := e.St.AddUser(e.Args[0], pw)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.Out, "added user %s\n", u.Address)
	return nil
}

func cmdUserPassword(e *cmdEnv) error {
	pw, err := readSecret(e.Stdin)
	if err != nil {
		return err
	}
	if err := e.St.SetUserPassword(e.Args[0], pw); err != nil {
		return err
	}
	fmt.Fprintf(e.Out, "password changed for %s\n", e.Args[0])
	return nil
}

func cmdUserList(e *cmdEnv) error {
	dom := ""
	if len(e.Args) > 0 {
		dom = e.Args[0]
	}
	us, err := e.St.ListUsers(dom)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(e.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ADDRESS\tQUOTA\tCREATED")
	for _, u := range us {
		q := "default"
		if u.Quota > 0 {
			q = fmt.Sprint(u.Quota)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", u.Address, q, u.Created.Format("2006-01-02"))
	}
	return tw.Flush()
}

func cmdUserRemove(e *cmdEnv) error {
	if err := e.St.RemoveUser(e.Args[0]); err != nil {
		return err
	}
	fmt.Fprintf(e.Out, "removed user %s and their mail\n", e.Args[0])
	return nil
}

func cmdAdminPassword(e *cmdEnv) error {
	pw, err := readSecret(e.Stdin)
	if err != nil {
		return err
	}
	if err := e.St.SetAdminPassword(pw); err != nil {
		return err
	}
	fmt.Fprintln(e.Out, "admin password set (log in at /admin as admin)")
	return nil
}
