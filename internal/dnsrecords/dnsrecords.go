package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/authsmtp/authsmtp/smtp/dnsx"
	"github.com/authsmtp/authsmtp/store"
)

// dnsRecord is one record to publish for a hosted domain.
type dnsRecord struct {
	Name  string // FQDN without the final dot
	Type  string // MX, TXT, CNAME, SRV
	Value string // as in a zone file, without quotes for TXT
	// For SRV: the port; for MX: the preference.
	Num int
}

// domainRecords lists what a domain needs in DNS to send and receive
// through this server: MX, SPF, every published DKIM key, DMARC, and the
// client autoconfiguration records (autoconfig/autodiscover and the RFC
// 6186 SRV records for submission and IMAP).
func domainRecords(st *store.Store, domain, host string) ([]dnsRecord, error) {
	set, err := st.DKIMKeys(domain)
	if err != nil {
		return nil, err
	}
	recs := []dnsRecord{
		{Name: domain, Type: "MX", Value: host, Num: 10},
		{Name: domain, Type: "TXT", Value: "v=spf1 mx -all"},
	}
	for _, k := range set.Keys {
		txt, err := k.TXT()
		if err != nil {
			return nil, err
		}
		recs = append(recs, dnsRecord{Name: k.Selector + "._domainkey." + domain, Type: "TXT", Value: txt})
	}
	recs = append(recs,
		dnsRecord{Name: "_dmarc." + domain, Type: "TXT", Value: "v=DMARC1; p=quarantine; adkim=r; aspf=r; rua=mailto:postmaster@" + domain},
		dnsRecord{Name: "autoconfig." + domain, Type: "CNAME", Value: host},
		dnsRecord{Name: "autodiscover." + domain, Type: "CNAME", Value: host},
		dnsRecord{Name: "_submissions._tcp." + domain, Type: "SRV", Value: host, Num: 465},
		dnsRecord{Name: "_submission._tcp." + domain, Type: "SRV", Value: host, Num: 587},
		dnsRecord{Name: "_imaps._tcp." + domain, Type: "SRV", Value: host, Num: 993},
		dnsRecord{Name: "_imap._tcp." + domain, Type: "SRV", Value: host, Num: 143},
		dnsRecord{Name: "_autodiscover._tcp." + domain, Type: "SRV", Value: host, Num: 443},
	)
	return recs, nil
}

// zoneLine formats a record for a zone file; long TXT values are split in
// 255-byte strings (RFC 1035 §3.3.14).
func (r dnsRecord) zoneLine() string {
	name := r.Name + "."
	switch r.Type {
	case "MX":
		return fmt.Sprintf("%-40s 3600 IN MX    %d %s.", name, r.Num, r.Value)
	case "CNAME":
		return fmt.Sprintf("%-40s 3600 IN CNAME %s.", name, r.Value)
	case "SRV":
		return fmt.Sprintf("%-40s 3600 IN SRV   0 1 %d %s.", name, r.Num, r.Value)
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

// mailHostname is the name the records point at: the running server's
// --hostname, else this CLI process's --hostname (or AUTHSMTP_HOSTNAME,
// which config.parse already folded into Cfg), else mail.<domain>.
func (e *cmdEnv) mailHostname(domain string) string {
	if e.Server != nil && e.Server.cfg.Hostname != "" {
		return strings.TrimSuffix(e.Server.cfg.Hostname, ".")
	}
	if h := strings.TrimSuffix(e.Cfg.Hostname, "."); h != "" {
		return h
	}
	return "mail." + domain
}

func (e *cmdEnv) dnsServer() string {
	if e.Server != nil {
		return e.Server.cfg.DNS
	}
	return os.Getenv("AUTHSMTP_DNS")
}

func cmdDomainDNS(e *cmdEnv) error {
	dom, err := e.St.GetDomain(e.Args[0])
	if err != nil {
		return err
	}
	host := e.mailHostname(dom.Name)
	recs, err := domainRecords(e.St, dom.Name, host)
	if err != nil {
		return err
	}
	if _, check := e.Flags["check"]; !check {
		fmt.Fprintf(e.Out, "; DNS records for %s (mail host %s)\n", dom.Name, host)
		for _, r := range recs {
			fmt.Fprintln(e.Out, r.zoneLine())
		}
		return nil
	}
	res, err := dnsx.New(e.dnsServer())
	if err != nil {
		return err
	}
	bad := 0
	for _, r := range recs {
		state := checkRecord(res, r)
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

// checkRecord looks a record up and says "ok", "missing" or "wrong".
func checkRecord(res *dnsx.Resolver, r dnsRecord) string {
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
			if eq(s.Target) && int(s.Port) == r.Num {
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
	if found && !strings.Contains(r.Name, "._domainkey.") {
		return "ok" // an SPF or DMARC record of the admin's own design
	}
	if found {
		return "wrong"
	}
	return "missing"
}
