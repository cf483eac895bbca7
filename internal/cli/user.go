package cli

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/authsmtp/authsmtp/store"
)

// userCommands manage mailbox users (and the admin login's password).
func userCommands() []Command {
	return []Command{
		{Words: "user add", Usage: "ADDRESS   (password from stdin)", Stdin: true, NArgs: [2]int{1, 1}, Run: cmdUserAdd},
		{Words: "user password", Usage: "ADDRESS   (new password from stdin)", Stdin: true, NArgs: [2]int{1, 1}, Run: cmdUserPassword},
		{Words: "user list", Usage: "[DOMAIN]", NArgs: [2]int{0, 1}, Run: cmdUserList},
		{Words: "user remove", Usage: "ADDRESS", NArgs: [2]int{1, 1}, Run: cmdUserRemove},
		{Words: "user limit", Usage: "ADDRESS [per-hour=N] [per-day=N] [rcpts-per-day=N]", NArgs: [2]int{1, 4}, Run: cmdUserLimit},
		{Words: "user quota", Usage: "ADDRESS SIZE   (SIZE like 500M, 2G, 1048576; 0: the server default)", NArgs: [2]int{2, 2}, Run: cmdUserQuota},
		{Words: "user forward", Usage: "ADDRESS TARGET|off [--keep]", NArgs: [2]int{2, 2}, Extras: []string{"keep"}, Run: cmdForward},
		{Words: "user vacation", Usage: "ADDRESS on|off   (reply text from stdin)", Stdin: true, NArgs: [2]int{2, 2}, Run: cmdVacation},
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

func cmdUserLimit(e *Env) error {
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

func cmdUserAdd(e *Env) error {
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

func cmdUserPassword(e *Env) error {
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

func cmdUserList(e *Env) error {
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

func cmdUserRemove(e *Env) error {
	if err := e.St.RemoveUser(e.Args[0]); err != nil {
		return err
	}
	fmt.Fprintf(e.Out, "removed user %s and their mail\n", e.Args[0])
	return nil
}

func cmdAdminPassword(e *Env) error {
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

func cmdForward(e *Env) error {
	target := e.Args[1]
	if strings.EqualFold(target, "off") {
		target = ""
	}
	_, keep := e.Flags["keep"]
	if err := e.St.SetForward(e.Args[0], target, keep); err != nil {
		return err
	}
	switch {
	case target == "":
		fmt.Fprintf(e.Out, "%s: forwarding off\n", e.Args[0])
	case keep:
		fmt.Fprintf(e.Out, "%s: forwarded to %s, a copy kept\n", e.Args[0], target)
	default:
		fmt.Fprintf(e.Out, "%s: forwarded to %s, no copy kept\n", e.Args[0], target)
	}
	return nil
}

func cmdVacation(e *Env) error {
	text := ""
	switch strings.ToLower(e.Args[1]) {
	case "on":
		b, err := io.ReadAll(io.LimitReader(e.Stdin, 64<<10))
		if err != nil {
			return err
		}
		text = strings.TrimSpace(string(b))
		if text == "" {
			return errors.New("give the auto-reply text on stdin")
		}
	case "off":
	default:
		return errors.New("say on or off")
	}
	if err := e.St.SetVacation(e.Args[0], text); err != nil {
		return err
	}
	fmt.Fprintf(e.Out, "%s: vacation reply %s\n", e.Args[0], onOff(text != ""))
	return nil
}
