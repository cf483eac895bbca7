package serve

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/authsmtp/authsmtp/acme"
	"github.com/authsmtp/authsmtp/internal/config"
	"github.com/authsmtp/authsmtp/store"
)

// demoDefaults moves every listener still at its default to a high port
// on 127.0.0.1, so the demo never needs root or exposes anything.
func demoDefaults(cfg *config.Config) {
	def := config.Default()
	set := func(p *string, defv, demo string) {
		if *p == defv {
			*p = demo
		}
	}
	set(&cfg.Submission, def.Submission, "127.0.0.1:2587")
	set(&cfg.Submissions, def.Submissions, "127.0.0.1:2465")
	set(&cfg.MX, def.MX, "127.0.0.1:2525")
	set(&cfg.IMAP, def.IMAP, "127.0.0.1:2143")
	set(&cfg.IMAPS, def.IMAPS, "127.0.0.1:2993")
	set(&cfg.HTTPS, def.HTTPS, "127.0.0.1:8443")
	set(&cfg.HTTP, def.HTTP, "127.0.0.1:8080")
	if cfg.Hostname == "" {
		cfg.Hostname = "localhost"
	}
	if cfg.TLSMode == "" {
		cfg.TLSMode = acme.ModeSelfSigned
	}
	cfg.Capture = true
}

// The demo's logins are kept in demo-logins.json in the data directory
// (0600), so a restart prints and keeps the same passwords. The file is
// also what marks a directory as the demo's: --demo refuses a data
// directory that holds a real setup instead of adding demo.test to it and
// resetting its admin password.
const demoFile = "demo-logins.json"

const demoDomain, demoUser = "demo.test", "alice@demo.test"

// demoLogins are the demo's passwords.
type demoLogins struct {
	Domain string `json:"domain"`
	User   string `json:"user"`
	Admin  string `json:"admin"`
}

// checkDemoDir refuses --demo on a data directory that holds anything but
// the demo: a domain other than demo.test, a user other than alice, or an
// admin password set outside the demo.
func checkDemoDir(st *store.Store, dir string) error {
	if _, err := os.Stat(filepath.Join(dir, demoFile)); err == nil {
		return nil
	}
	var real []string
	ds, err := st.ListDomains()
	if err != nil {
		return err
	}
	for _, d := range ds {
		if d.Name != demoDomain {
			real = append(real, "domain "+d.Name)
		}
	}
	us, err := st.ListUsers("")
	if err != nil {
		return err
	}
	for _, u := range us {
		if u.Address != demoUser {
			real = append(real, "user "+u.Address)
		}
	}
	if len(ds) == 0 && st.HasAdminPassword() {
		real = append(real, "an admin password")
	}
	if len(real) == 0 {
		return nil
	}
	if len(real) > 3 {
		real = append(real[:3], fmt.Sprintf("and %d more", len(real)-3))
	}
	return fmt.Errorf("--demo refuses %s: it holds a real setup (%s), and the demo would add demo.test and reset its admin password; run the demo on a directory of its own: authsmtp serve --demo --data ./demo-data", dir, strings.Join(real, ", "))
}

// demoPasswords reads the demo's passwords, or makes and saves new ones.
func demoPasswords(dir string) (demoLogins, error) {
	path := filepath.Join(dir, demoFile)
	var l demoLogins
	raw, err := os.ReadFile(path)
	if err == nil {
		if err := json.Unmarshal(raw, &l); err == nil && l.Domain != "" && l.User != "" && l.Admin != "" {
			return l, nil
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return l, fmt.Errorf("reading the demo's logins: %w", err)
	}
	l = demoLogins{Domain: store.RandomToken(12), User: store.RandomToken(12), Admin: store.RandomToken(12)}
	raw, _ = json.MarshalIndent(l, "", "  ")
	if err := os.WriteFile(path, append(raw, '\n'), 0o600); err != nil {
		return l, fmt.Errorf("saving the demo's logins: %w", err)
	}
	return l, nil
}

// setupDemo creates the demo domain and user (once), sets the demo's
// passwords (the same on every start), and prints how to use them.
func (srv *server) setupDemo() error {
	const domain, user = demoDomain, demoUser
	st := srv.st
	pw, err := demoPasswords(srv.cfg.Data)
	if err != nil {
		return err
	}
	domPW, userPW, adminPW := pw.Domain, pw.User, pw.Admin
	if _, err := st.GetDomain(domain); err != nil {
		if _, err := st.AddDomain(domain); err != nil {
			return err
		}
	}
	for _, sw := range []string{"smtp", "webmail"} {
		if err := st.SetDomainSwitch(domain, sw, true); err != nil {
			return err
		}
	}
	if err := st.SetDomainPassword(domain, domPW); err != nil {
		return err
	}
	if _, err := st.GetUser(user); err != nil {
		if _, err := st.AddUser(user, userPW); err != nil {
			return err
		}
	} else if err := st.SetUserPassword(user, userPW); err != nil {
		return err
	}
	if err := st.SetAdminPassword(adminPW); err != nil {
		return err
	}
	c := srv.cfg
	var b strings.Builder
	fmt.Fprintf(&b, "\nauthsmtp demo is ready (outbound mail is captured, never sent)\n\n")
	fmt.Fprintf(&b, "  domain login   %-18s password %s   (may send as anyone@%s)\n", domain, domPW, domain)
	fmt.Fprintf(&b, "  user login     %-18s password %s   (sends only as %s, reads its mailbox)\n", user, userPW, user)
	fmt.Fprintf(&b, "  admin login    %-18s password %s\n\n", store.AdminLogin, adminPW)
	if c.Submission != "" {
		fmt.Fprintf(&b, "  SMTP submission  %s (STARTTLS)\n", c.Submission)
	}
	if c.Submissions != "" {
		fmt.Fprintf(&b, "  SMTP submissions %s (TLS)\n", c.Submissions)
	}
	if c.IMAPS != "" {
		fmt.Fprintf(&b, "  IMAPS            %s\n", c.IMAPS)
	}
	if c.HTTPS != "" {
		fmt.Fprintf(&b, "  admin panel      https://%s/admin   webmail https://%s/mail\n", c.HTTPS, c.HTTPS)
	}
	fmt.Fprintf(&b, "\n  try: swaks --server %s --tls --auth-user %s --auth-password %s --from %s --to %s\n\n",
		c.Submission, user, userPW, user, user)
	fmt.Fprint(srv.out, b.String())
	return nil
}
