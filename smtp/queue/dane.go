package queue

import (
	"context"
	"crypto/tls"
	"fmt"
	"strings"
	"time"

	"github.com/authsmtp/authsmtp/smtp/dane"
	"github.com/authsmtp/authsmtp/smtp/dnsx"
	"github.com/authsmtp/authsmtp/store"
)

// DANE (RFC 7672): when the MX RRset of the destination and the address of
// an MX host are authenticated (the resolver sets AD and --dnssec trusts
// it), the TLSA records of _25._tcp.<host> decide: usable ones make TLS
// mandatory with a certificate matching one of them; a TLSA RRset with no
// usable record still makes TLS mandatory, unauthenticated (§2.2). No
// records, or an insecure answer, leave the host to MTA-STS and
// opportunistic TLS, unless the destination is in Config.DANERequired:
// then such a host is not used (TLSRPT dane-required). DANE takes
// precedence over MTA-STS (RFC 8461 §2).
//
// An MX host that is a CNAME alias: when the chain is secure, the TLSA
// base domain is its end, and the original name is tried when the end
// has no records (RFC 7672 §2.2.2); the base domain is the SNI and the
// first DANE-TA reference identifier (§3.2.2, §8.1).

// DANEResolver is what DANE needs of the resolver (*dnsx.Resolver); a
// Resolver without these methods never applies DANE.
type DANEResolver interface {
	SecureMX(ctx context.Context, domain string) (bool, error)
	SecureHost(ctx context.Context, host string) (target string, secure bool, err error)
	LookupTLSA(ctx context.Context, host string, port int) ([]dnsx.TLSA, bool, error)
}

var _ DANEResolver = (*dnsx.Resolver)(nil)

// daneState is the DANE outcome for one MX host.
type daneState struct {
	applies bool        // authenticated TLSA records exist: TLS is mandatory
	base    string      // the TLSA base domain: the host, or its CNAME target
	usable  []dnsx.TLSA // the records a certificate must match (none: unauthenticated TLS)
	all     []dnsx.TLSA // every record, for the TLS report's policy-string
	err     error       // the TLSA lookup failed: skip the host (temporary)
}

// daneMX says whether the destination's MX answer is authenticated, the
// precondition for DANE on any of its hosts.
func (r *Runner) daneMX(ctx context.Context, dest string) bool {
	dr, ok := r.cfg.Resolver.(DANEResolver)
	if !ok {
		return false
	}
	sec, err := dr.SecureMX(ctx, dest)
	return err == nil && sec
}

// daneFor looks up the TLSA records of an MX host whose MX answer was
// authenticated.
func (r *Runner) daneFor(ctx context.Context, dest, host string) daneState {
	dr := r.cfg.Resolver.(DANEResolver)
	target, sec, err := dr.SecureHost(ctx, host)
	if err != nil || !sec {
		return daneState{}
	}
	bases := []string{target}
	if !strings.EqualFold(target, strings.TrimSuffix(host, ".")) {
		bases = append(bases, host)
	}
	for _, base := range bases {
		recs, sec, err := dr.LookupTLSA(ctx, base, 25)
		if err != nil {
			// A validating resolver failing here may be an attacker hiding
			// the records: never downgrade, try later (§2.2).
			r.reportTLS(store.TLSResult{Domain: dest, PolicyType: "tlsa", PolicyMX: []string{host}, MXHost: host, Result: "dnssec-invalid"})
			return daneState{err: fmt.Errorf("DANE: the TLSA lookup of _25._tcp.%s failed: %v", base, err)}
		}
		if sec && len(recs) > 0 {
			return daneState{applies: true, base: base, usable: dane.Usable(recs), all: recs}
		}
	}
	return daneState{}
}

// daneRequired says whether dest is delivered to only under DANE.
func (r *Runner) daneRequired(dest string) bool {
	for _, d := range r.cfg.DANERequired {
		if strings.EqualFold(strings.TrimSuffix(d, "."), dest) {
			return true
		}
	}
	return false
}

// daneTLS is the TLS configuration of a DANE connection: SNI is the TLSA
// base domain (§8.1); the certificate is checked against the records,
// not WebPKI, DANE-TA names against the base domain, the MX host name
// and the destination (§3.2.2).
func daneTLS(t target) *tls.Config {
	names := []string{t.dane.base}
	if !strings.EqualFold(t.name, t.dane.base) {
		names = append(names, t.name)
	}
	names = append(names, t.dest)
	return &tls.Config{
		ServerName:         t.dane.base,
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: true, // VerifyConnection does the DANE check
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(t.dane.usable) == 0 {
				return nil // no usable record: encrypted, not authenticated
			}
			return dane.Verify(t.dane.usable, cs.PeerCertificates, names, time.Now())
		},
	}
}
