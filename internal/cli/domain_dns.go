package cli

import (
	"fmt"
	"strings"

	"github.com/authsmtp/authsmtp/internal/dnsrecords"
	"github.com/authsmtp/authsmtp/smtp/dnsx"
)

// mailHostname is the name the records point at: the running server's
// --hostname (inside serve, Cfg is the server's), else this CLI process's
// --hostname (or AUTHSMTP_HOSTNAME, which config.Parse already folded into
// Cfg), else mail.<domain>.
func (e *Env) mailHostname(domain string) string {
	if h := strings.TrimSuffix(e.Cfg.Hostname, "."); h != "" {
		return h
	}
	return "mail." + domain
}

// servedPorts are the ports the SRV records name: the running server's
// listeners, else the listener flags (or AUTHSMTP_* variables) this CLI
// process was given, the same ones serve would use.
func (e *Env) servedPorts() dnsrecords.Ports {
	if e.Live != nil {
		return e.Live.ServedPorts()
	}
	c := e.Cfg
	return dnsrecords.Ports{Submission: dnsrecords.PortOf(c.Submission), Submissions: dnsrecords.PortOf(c.Submissions),
		IMAP: dnsrecords.PortOf(c.IMAP), IMAPS: dnsrecords.PortOf(c.IMAPS), HTTPS: dnsrecords.PortOf(c.HTTPS)}
}

func cmdDomainDNS(e *Env) error {
	dom, err := e.St.GetDomain(e.Args[0])
	if err != nil {
		return err
	}
	host := e.mailHostname(dom.Name)
	recs, err := dnsrecords.For(e.St, dom.Name, host, e.servedPorts())
	if err != nil {
		return err
	}
	if _, check := e.Flags["check"]; !check {
		fmt.Fprintf(e.Out, "; DNS records for %s (mail host %s)\n", dom.Name, host)
		for _, r := range recs {
			fmt.Fprintln(e.Out, r.ZoneLine())
		}
		return nil
	}
	res, err := dnsx.New(e.Cfg.DNS)
	if err != nil {
		return err
	}
	bad := 0
	for _, r := range recs {
		state := dnsrecords.Check(res, r)
		if state != "ok" {
			bad++
		}
		fmt.Fprintf(e.Out, "%-8s %-5s %s\n", state, r.Type, r.Name)
	}
	if bad > 0 {
		return fmt.Errorf("%d of %d records missing or wrong: publish them as `authsmtp domain dns %s` prints", bad, len(recs), dom.Name)
	}
	fmt.Fprintf(e.Out, "all %d records are published\n", len(recs))
	return nil
}

// cmdMTASTS chooses the MTA-STS mode the server publishes for a domain
// and prints the _mta-sts record, whose id follows the new policy.
func cmdMTASTS(e *Env) error {
	mode := strings.ToLower(e.Args[1])
	if err := e.St.SetMTASTSMode(e.Args[0], mode); err != nil {
		return err
	}
	dom, err := e.St.GetDomain(e.Args[0])
	if err != nil {
		return err
	}
	rec := dnsrecords.MTASTS(dom.Name, e.mailHostname(dom.Name), mode)[0]
	fmt.Fprintf(e.Out, "%s: MTA-STS mode %s; publish the new policy id:\n%s\n", dom.Name, mode, rec.ZoneLine())
	return nil
}
