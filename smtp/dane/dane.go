// Package dane authenticates an SMTP server's certificate against the
// TLSA records of its MX host (RFC 7672, RFC 6698): DANE-EE(3) pins the
// server's own certificate or key, with no name or date check; DANE-TA(2)
// pins a trust anchor the chain must lead to, and then the name and
// validity of the server certificate are checked as in WebPKI, against
// the MX host name (the TLSA base domain) or the next-hop domain
// (RFC 7672 §3.2.2). PKIX-TA(0) and PKIX-EE(1) are unusable for SMTP
// (§3.1.3) and are ignored.
package dane

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/authsmtp/authsmtp/smtp/dnsx"
)

// Certificate usages, selectors and matching types (RFC 7218 names).
const (
	UsageDANETA = 2
	UsageDANEEE = 3

	SelectorCert = 0
	SelectorSPKI = 1

	MatchFull   = 0
	MatchSHA256 = 1
	MatchSHA512 = 2
)

// Usable returns the records a client can use (RFC 7672 §2.2, §3.1):
// usages DANE-TA and DANE-EE, known selectors and matching types, and a
// digest of the right length.
func Usable(records []dnsx.TLSA) []dnsx.TLSA {
	var out []dnsx.TLSA
	for _, r := range records {
		if r.Usage != UsageDANETA && r.Usage != UsageDANEEE {
			continue
		}
		if r.Selector != SelectorCert && r.Selector != SelectorSPKI {
			continue
		}
		switch {
		case r.MatchingType == MatchFull && len(r.Data) > 0,
			r.MatchingType == MatchSHA256 && len(r.Data) == sha256.Size,
			r.MatchingType == MatchSHA512 && len(r.Data) == sha512.Size:
			out = append(out, r)
		}
	}
	return out
}

// Result types of a failure, as TLSRPT (RFC 8460 §4.3) names them.
const (
	ResultValidationFailure = "validation-failure"
	ResultHostMismatch      = "certificate-host-mismatch"
	ResultExpired           = "certificate-expired"
	ResultNotTrusted        = "certificate-not-trusted"
)

// Error is a certificate that the TLSA records do not authenticate.
type Error struct {
	Result string // a TLSRPT result type
	Detail string
}

func (e *Error) Error() string { return "DANE: " + e.Detail }

// Verify checks the chain the server presented (leaf first) against the
// usable records. names are the reference identifiers for DANE-TA: the
// MX host name, then the next-hop (recipient) domain.
func Verify(records []dnsx.TLSA, chain []*x509.Certificate, names []string, now time.Time) error {
	if len(chain) == 0 {
		return &Error{ResultValidationFailure, "the server sent no certificate"}
	}
	leaf := chain[0]
	var taErr error
	for _, r := range records {
		switch r.Usage {
		case UsageDANEEE:
			if matches(r, leaf) {
				return nil
			}
		case UsageDANETA:
			for i, c := range chain {
				if !matches(r, c) {
					continue
				}
				err := verifyTA(chain[:i], c, names, now)
				if err == nil {
					return nil
				}
				taErr = err
			}
		}
	}
	if taErr != nil {
		return taErr
	}
	return &Error{ResultValidationFailure, fmt.Sprintf("the certificate of %s matches none of its %d TLSA records", firstOr(names), len(records))}
}

// verifyTA checks that the certificates below the matched anchor lead to
// it and that the leaf is valid for one of names at now.
func verifyTA(below []*x509.Certificate, anchor *x509.Certificate, names []string, now time.Time) error {
	roots := x509.NewCertPool()
	roots.AddCert(anchor)
	leaf := anchor
	inter := x509.NewCertPool()
	if len(below) > 0 {
		leaf = below[0]
		for _, c := range below[1:] {
			inter.AddCert(c)
		}
	}
	var last error
	for _, n := range names {
		_, err := leaf.Verify(x509.VerifyOptions{DNSName: n, Roots: roots, Intermediates: inter,
			CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
		if err == nil {
			return nil
		}
		last = err
	}
	var inv x509.CertificateInvalidError
	var host x509.HostnameError
	switch {
	case errors.As(last, &host):
		return &Error{ResultHostMismatch, fmt.Sprintf("the certificate chains to the DANE-TA anchor but is not valid for %v", names)}
	case errors.As(last, &inv) && inv.Reason == x509.Expired:
		return &Error{ResultExpired, "the certificate chains to the DANE-TA anchor but is expired or not yet valid"}
	}
	return &Error{ResultNotTrusted, fmt.Sprintf("the certificate does not chain to the DANE-TA anchor: %v", last)}
}

func matches(r dnsx.TLSA, c *x509.Certificate) bool {
	var sel []byte
	switch r.Selector {
	case SelectorCert:
		sel = c.Raw
	case SelectorSPKI:
		sel = c.RawSubjectPublicKeyInfo
	default:
		return false
	}
	switch r.MatchingType {
	case MatchFull:
		return bytes.Equal(sel, r.Data)
	case MatchSHA256:
		h := sha256.Sum256(sel)
		return bytes.Equal(h[:], r.Data)
	case MatchSHA512:
		h := sha512.Sum512(sel)
		return bytes.Equal(h[:], r.Data)
	}
	return false
}

// Record returns the TLSA record of usage, selector and matching type for
// c: what a domain publishes, and what tests use.
func Record(usage, selector, matching uint8, c *x509.Certificate) dnsx.TLSA {
	sel := c.Raw
	if selector == SelectorSPKI {
		sel = c.RawSubjectPublicKeyInfo
	}
	data := sel
	switch matching {
	case MatchSHA256:
		h := sha256.Sum256(sel)
		data = h[:]
	case MatchSHA512:
		h := sha512.Sum512(sel)
		data = h[:]
	}
	return dnsx.TLSA{Usage: usage, Selector: selector, MatchingType: matching, Data: append([]byte(nil), data...)}
}

func firstOr(names []string) string {
	if len(names) == 0 {
		return "the server"
	}
	return names[0]
}
