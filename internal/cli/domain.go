package cli

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/authsmtp/authsmtp/store"
)

// domainCommands manage hosted domains: the domain login, its switches,
// limits, catch-all, DKIM keys and the DNS records to publish.
func domainCommands() []Command {
	return []Command{
		{Words: "domain add", Usage: "DOMAIN", NArgs: [2]int{1, 1}, Run: cmdDomainAdd},
		{Words: "domain enable", Usage: "DOMAIN smtp|webmail", NArgs: [2]int{2, 2}, Run: cmdDomainSwitch(true)},
		{Words: "domain disable", Usage: "DOMAIN smtp|webmail", NArgs: [2]int{2, 2}, Run: cmdDomainSwitch(false)},
		{Words: "domain password", Usage: "DOMAIN   (new password from stdin)", Stdin: true, NArgs: [2]int{1, 1}, Run: cmdDomainPassword},
		{Words: "domain list", NArgs: [2]int{0, 0}, Run: cmdDomainList},
		{Words: "domain remove", Usage: "DOMAIN", NArgs: [2]int{1, 1}, Run: cmdDomainRemove},
		{Words: "domain limit", Usage: "DOMAIN [per-hour=N] [per-day=N] [rcpts-per-day=N]", NArgs: [2]int{1, 4}, Run: cmdDomainLimit},
		{Words: "domain catchall", Usage: "DOMAIN USER|off", NArgs: [2]int{2, 2}, Run: cmdCatchAll},
		{Words: "domain postmaster", Usage: "DOMAIN [USER|off]", NArgs: [2]int{1, 2}, Run: cmdPostmaster},
		{Words: "domain dkim-rotate", Usage: "DOMAIN", NArgs: [2]int{1, 1}, Run: cmdDKIMRotate},
		{Words: "domain mta-sts", Usage: "DOMAIN none|testing|enforce", NArgs: [2]int{2, 2}, Run: cmdMTASTS},
		{Words: "domain reports", Usage: "DOMAIN [--days N] [--json] [--no-dns]", NArgs: [2]int{1, 1}, Extras: []string{"days=", "json", "no-dns"}, Run: cmdDomainReports},
		{Words: "domain dns", Usage: "DOMAIN [--check]", NArgs: [2]int{1, 1}, Extras: []string{"check"}, Run: cmdDomainDNS},
	}
}

func cmdDomainAdd(e *Env) error {
	d, err := e.St.AddDomain(e.Args[0])
	if err != nil {
		return err
	}
	fmt.Fprintf(e.Out, "added domain %s (Authenticated SMTP and Webmail are off: authsmtp domain enable %s smtp)\n", d.Name, d.Name)
	return nil
}

func cmdDomainSwitch(on bool) func(e *Env) error {
	return func(e *Env) error {
		if err := e.St.SetDomainSwitch(e.Args[0], e.Args[1], on); err != nil {
			return err
		}
		state := "off"
		if on {
			state = "on"
		}
		d, _ := store.CanonicalDomain(e.Args[0])
		fmt.Fprintf(e.Out, "%s: %s is %s\n", d, e.Args[1], state)
		return nil
	}
}

func cmdDomainPassword(e *Env) error {
	pw, err := readSecret(e.Stdin)
	if err != nil {
		return err
	}
	if err := e.St.SetDomainPassword(e.Args[0], pw); err != nil {
		return err
	}
	d, _ := store.CanonicalDomain(e.Args[0])
	fmt.Fprintf(e.Out, "password set for domain login %s\n", d)
	return nil
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

func cmdDomainList(e *Env) error {
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

func cmdDomainRemove(e *Env) error {
	if err := e.St.RemoveDomain(e.Args[0]); err != nil {
		return err
	}
	d, _ := store.CanonicalDomain(e.Args[0])
	fmt.Fprintf(e.Out, "removed domain %s\n", d)
	return nil
}

func cmdDomainLimit(e *Env) error {
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

func cmdCatchAll(e *Env) error {
	user := e.Args[1]
	if strings.EqualFold(user, "off") {
		user = ""
	}
	if err := e.St.SetCatchAll(e.Args[0], user); err != nil {
		return err
	}
	if user == "" {
		fmt.Fprintf(e.Out, "%s: catch-all off (unknown users get 550 5.1.1)\n", e.Args[0])
	} else {
		fmt.Fprintf(e.Out, "%s: mail for unknown users goes to %s\n", e.Args[0], user)
	}
	return nil
}

// cmdPostmaster shows or sets who receives postmaster@ and abuse@ of a
// domain (store/postmaster.go).
func cmdPostmaster(e *Env) error {
	dn, err := store.DomainLogin(e.Args[0])
	if err != nil {
		return err
	}
	if len(e.Args) == 1 {
		d, err := e.St.GetDomain(dn)
		if err != nil {
			return err
		}
		held := e.St.HeldPostmasterMail(dn)
		if d.Postmaster == "" {
			fmt.Fprintf(e.Out, "%s: no postmaster; postmaster@ and abuse@ mail is kept (%d waiting) until you run: authsmtp domain postmaster %s USER\n", dn, held, dn)
		} else {
			fmt.Fprintf(e.Out, "%s: postmaster@ and abuse@ go to %s\n", dn, d.Postmaster)
		}
		return nil
	}
	user := e.Args[1]
	if strings.EqualFold(user, "off") {
		user = ""
	}
	held := e.St.HeldPostmasterMail(dn)
	if err := e.St.SetPostmaster(dn, user); err != nil {
		return err
	}
	switch {
	case user == "":
		fmt.Fprintf(e.Out, "%s: no postmaster; postmaster@ and abuse@ mail is kept until one is chosen\n", dn)
	case held > 0:
		fmt.Fprintf(e.Out, "%s: postmaster@ and abuse@ go to %s (%d held message(s) moved to its INBOX)\n", dn, user, held)
	default:
		fmt.Fprintf(e.Out, "%s: postmaster@ and abuse@ go to %s\n", dn, user)
	}
	return nil
}

func cmdDKIMRotate(e *Env) error {
	set, err := e.St.RotateDKIM(e.Args[0])
	if err != nil {
		return err
	}
	d, _ := store.DomainLogin(e.Args[0])
	fmt.Fprintf(e.Out, "new DKIM keys for %s (publish them, then they sign all mail):\n", d)
	for _, k := range set.Keys {
		state := "old, still published"
		if k.Active {
			state = "signing"
		}
		fmt.Fprintf(e.Out, "  %s._domainkey.%s  %s  %s\n", k.Selector, d, k.Algo, state)
	}
	fmt.Fprintf(e.Out, "see the records: authsmtp domain dns %s\n", d)
	return nil
}
