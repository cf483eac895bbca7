// Package dnsrecords lists the DNS records a hosted domain needs (MX,
// SPF, DKIM, DMARC, client autoconfiguration, MTA-STS and TLSRPT) and checks them live. The
// CLI's `domain dns` and the web panel's DNS page both use it, so they
// always agree. It imports the store (for DKIM keys) and smtp/dnsx.
package dnsrecords

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/authsmtp/authsmtp/smtp/dnsx"
	"github.com/authsmtp/authsmtp/smtp/mtasts"
	"github.com/authsmtp/authsmtp/store"
)

// Record is one record to publish for a hosted domain.
type Record struct {
	Name  string // FQDN without the final dot
	Type  string // MX, TXT, CNAME, SRV
	Value string // as in a zone file, without quotes for TXT
	// For SRV: the port; for MX: the preference.
	Num int
}

// KeySource gives a domain's DKIM keys and settings (the store).
type KeySource interface {
	DKIMKeys(domain string) (store.DKIMKeySet, error)
	GetDomain(name string) (store.Domain, error)
}

// Ports are the ports the server offers, named by the SRV records; 0 is
// a listener that is off.
type Ports struct {
	Submission, Submissions int // STARTTLS, implicit TLS
	IMAP, IMAPS             int // STARTTLS, implicit TLS
	HTTPS                   int // autodiscover
}

// PortOf reads the port of a listener address (":587", "0.0.0.0:465");
// 0 for "" (off) or an address without a fixed port.
func PortOf(addr string) int {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return 0
	}
	n, err := strconv.Atoi(p)
	if err != nil || n <= 0 || n > 65535 {
		return 0
	}
	return n
}

// For lists what a domain needs in DNS to send and receive
// through this server: MX, SPF, every published DKIM key, DMARC, and the
// client autoconfiguration records (autoconfig/autodiscover and the RFC
// 6186 SRV records for submission and IMAP, naming the ports offered; a
// service that is off gets the RFC 6186 §3 "not available" record, target
// ".", so clients do not guess a standard port).
func For(st KeySource, domain, host string, ports Ports) ([]Record, error) {
	set, err := st.DKIMKeys(domain)
	if err != nil {
		return nil, err
	}
	recs := []Record{
		{Name: domain, Type: "MX", Value: host, Num: 10},
		{Name: domain, Type: "TXT", Value: "v=spf1 mx -all"},
	}
	for _, k := range set.Keys {
		txt, err := k.TXT()
		if err != nil {
			return nil, err
		}
		recs = append(recs, Record{Name: k.Selector + "._domainkey." + domain, Type: "TXT", Value: txt})
	}
	recs = append(recs,
		Record{Name: "_dmarc." + domain, Type: "TXT", Value: "v=DMARC1; p=quarantine; adkim=r; aspf=r; rua=mailto:dmarc-reports@" + domain},
		Record{Name: "autoconfig." + domain, Type: "CNAME", Value: host},
		Record{Name: "autodiscover." + domain, Type: "CNAME", Value: host},
	)
	srv := func(service string, port int) Record {
		r := Record{Name: "_" + service + "._tcp." + domain, Type: "SRV", Value: host, Num: port}
		if port == 0 {
			r.Value = "" // not available
		}
		return r
	}
	recs = append(recs,
		srv("submissions", ports.Submissions),
		srv("submission", ports.Submission),
		srv("imaps", ports.IMAPS),
		srv("imap", ports.IMAP),
	)
	if ports.HTTPS != 0 {
		recs = append(recs, srv("autodiscover", ports.HTTPS))
	}
	dom, err := st.GetDomain(domain)
	if err != nil {
		return nil, err
	}
	return append(recs, MTASTS(domain, host, dom.MTASTSMode)...), nil
}

// MTASTS lists the MTA-STS (RFC 8461) and TLS reporting (RFC 8460)
// records: the policy id follows the policy text, mta-sts.<domain> points
// at this server, which serves the policy on its HTTPS listener.
func MTASTS(domain, host, mode string) []Record {
	return []Record{
		{Name: "_mta-sts." + domain, Type: "TXT", Value: mtasts.For(mode, host).TXT()},
		{Name: "mta-sts." + domain, Type: "CNAME", Value: host},
		{Name: "_smtp._tls." + domain, Type: "TXT", Value: "v=TLSRPTv1; rua=mailto:tls-reports@" + domain},
	}
}

// ZoneLine formats a record for a zone file; long TXT values are split in
// 255-byte strings (RFC 1035 §3.3.14).
func (r Record) ZoneLine() string {
	name := r.Name + "."
	switch r.Type {
	case "MX":
		return fmt.Sprintf("%-40s 3600 IN MX    %d %s.", name, r.Num, r.Value)
	case "CNAME":
		return fmt.Sprintf("%-40s 3600 IN CNAME %s.", name, r.Value)
	case "SRV":
		return fmt.Sprintf("%-40s 3600 IN SRV   %s", name, r.ZoneValue())
	}
	v := r.Value
	var parts []string
	for len(v) > 255 {
		parts = append(parts, `"`+v[:255]+`"`)
		v = v[255:]
	}
	parts = append(parts, `"`+v+`"`)
	if len(parts) == 1 {
		return fmt.Sprintf("%-40s 3600 IN TXT   %s", name, parts[0])
	}
	return fmt.Sprintf("%-40s 3600 IN TXT   ( %s )", name, strings.Join(parts, " "))
}

// Check looks a record up and says "ok", "missing" or "wrong".
func Check(res *dnsx.Resolver, r Record) string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	eq := func(a string) bool { return strings.EqualFold(strings.TrimSuffix(a, "."), r.Value) }
	missing := func(err error) string {
		if dnsx.IsNotFound(err) {
			return "missing"
		}
		return "error"
	}
	switch r.Type {
	case "MX":
		mxs, err := res.LookupMX(ctx, r.Name)
		if err != nil {
			return missing(err)
		}
		for _, m := range mxs {
			if eq(m.Host) {
				return "ok"
			}
		}
		return "wrong"
	case "CNAME":
		c, err := res.LookupCNAME(ctx, r.Name)
		if err != nil {
			return missing(err)
		}
		if eq(c) {
			return "ok"
		}
		return "wrong"
	case "SRV":
		_, srvs, err := res.LookupSRV(ctx, "", "", r.Name)
		if err != nil {
			return missing(err)
		}
		for _, s := range srvs {
			if r.Value == "" && (s.Target == "." || s.Target == "") {
				return "ok"
			}
			if r.Value != "" && eq(s.Target) && int(s.Port) == r.Num {
				return "ok"
			}
		}
		return "wrong"
	}
	txts, err := res.LookupTXT(ctx, r.Name)
	if err != nil {
		return missing(err)
	}
	prefix, _, _ := strings.Cut(r.Value, ";")
	if strings.HasPrefix(r.Value, "v=spf1") {
		prefix = "v=spf1"
	}
	found := false
	for _, t := range txts {
		if t == r.Value {
			return "ok"
		}
		if strings.HasPrefix(t, prefix) {
			found = true
		}
	}
	// A DKIM key or an MTA-STS id must be exactly ours.
	if found && !strings.Contains(r.Name, "._domainkey.") && !strings.HasPrefix(r.Name, "_mta-sts.") {
		return "ok" // an SPF or DMARC record of the admin's own design
	}
	if found {
		return "wrong"
	}
	return "missing"
}

// ZoneValue is the record's data as typed into a DNS provider's form.
func (r Record) ZoneValue() string {
	switch r.Type {
	case "MX":
		return fmt.Sprintf("%d %s.", r.Num, r.Value)
	case "CNAME":
		return r.Value + "."
	case "SRV":
		if r.Value == "" {
			return "0 0 0 ." // RFC 6186 §3: the service is not available
		}
		return fmt.Sprintf("0 1 %d %s.", r.Num, r.Value)
	}
	return r.Value
}

// Purpose says in a few words what the record is for.
func (r Record) Purpose() string {
	switch {
	case r.Type == "MX":
		return "Receive mail"
	case strings.HasPrefix(r.Value, "v=spf1"):
		return "SPF"
	case strings.Contains(r.Name, "._domainkey."):
		return "DKIM"
	case strings.HasPrefix(r.Name, "_dmarc."):
		return "DMARC"
	case strings.HasPrefix(r.Name, "_mta-sts."), strings.HasPrefix(r.Name, "mta-sts."):
		return "MTA-STS"
	case strings.HasPrefix(r.Name, "_smtp._tls."):
		return "TLS reports"
	}
	return "Client setup"
}
