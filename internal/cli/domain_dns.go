package cli

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"

	"github.com/authsmtp/authsmtp/internal/dnsrecords"
	"github.com/authsmtp/authsmtp/smtp/dnsx"
	"github.com/authsmtp/authsmtp/smtp/mtasts"
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
	// The MTA-STS policy itself, fetched over HTTPS as senders do.
	state, detail := dnsrecords.CheckPolicy(context.Background(), dnsrecords.PolicyClient(res, policyRoots, policyPort),
		dom.Name, host, dom.MTASTSMode)
	fmt.Fprintf(e.Out, "%-8s %-5s %s (%s)\n", state, "HTTPS", mtasts.URL(dom.Name), detail)
	var problems []string
	if bad > 0 {
		problems = append(problems, fmt.Sprintf("%d of %d records missing or wrong: publish them as `authsmtp domain dns %s` prints", bad, len(recs), dom.Name))
	}
	if state != "ok" {
		problems = append(problems, fmt.Sprintf("the MTA-STS policy is %s: mta-sts.%s must reach this server's HTTPS listener on port 443 with a certificate for that name", state, dom.Name))
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	fmt.Fprintf(e.Out, "all %d records are published and the MTA-STS policy is served\n", len(recs))
	return nil
}

// policyRoots and policyPort are how `domain dns --check` reaches the
// policy server: the system's roots and port 443; tests point them at
// their own CA and port.
var (
	policyRoots *x509.CertPool
	policyPort  int
)

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
