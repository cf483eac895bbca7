package store

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// Address and name rules, applied everywhere an address is compared:
//
//   - Domains are compared as lower-case IDNA A-labels; Unicode and
//     punycode spellings of a domain are the same domain. A trailing dot
//     is refused, not stripped: "doe.com." is not accepted as "doe.com".
//   - Local parts are ASCII only (SMTPUTF8 is not offered) and compared by
//     ASCII case-folding (as most hosts deliver), so Bob@doe.com is
//     bob@doe.com. No Unicode folding: ALİCE (U+0130) and the Kelvin sign
//     (U+212A) would otherwise fold to alice and k; a non-ASCII local part
//     is refused everywhere (send rule, logins, user add, recipients).
//   - No sub-addressing for sending: alice+tag@doe.com is a different
//     address from alice@doe.com, so a user login may not send as it.
//   - A quoted local part whose content is a plain dot-atom ("bob"@d) is the
//     same address as the unquoted one (RFC 5321 §4.1.2). Any other quoted
//     local part, and local parts with routing characters (@ % ! :), source
//     routes (<@r:bob@d>) and address literals are refused outright.

var idnaProfile = idna.New(idna.MapForLookup(), idna.Transitional(false), idna.BidiRule(), idna.StrictDomainName(true))

// ErrBadDomain and ErrBadAddress are returned for names that cannot be used.
var (
	ErrBadDomain  = errors.New("invalid domain name")
	ErrBadAddress = errors.New("invalid email address")
)

// NormalizeDomain returns the canonical form of a domain: lower-case
// A-label, no trailing dot. It refuses address literals and single labels.
func NormalizeDomain(d string) (string, error) {
	d = strings.TrimSpace(d)
	if d == "" || strings.HasSuffix(d, ".") || strings.HasPrefix(d, "[") {
		return "", fmt.Errorf("%w: %q", ErrBadDomain, d)
	}
	if !utf8.ValidString(d) {
		return "", fmt.Errorf("%w: %q: not UTF-8", ErrBadDomain, d)
	}
	a, err := idnaProfile.ToASCII(d)
	if err != nil {
		return "", fmt.Errorf("%w: %q: %v", ErrBadDomain, d, err)
	}
	a = strings.ToLower(a)
	// The canonical form must be canonical again (found by FuzzMailRcptArgs:
	// a name idna maps to an A-label that it then refuses).
	if again, err := idnaProfile.ToASCII(a); err != nil || strings.ToLower(again) != a {
		return "", fmt.Errorf("%w: %q", ErrBadDomain, d)
	}
	if !strings.Contains(a, ".") || len(a) > 253 {
		return "", fmt.Errorf("%w: %q", ErrBadDomain, d)
	}
	// A top-level label is never all digits (RFC 3696 §2): "1.2.3.4" is
	// an IP address, not a domain.
	if tld := a[strings.LastIndexByte(a, '.')+1:]; strings.Trim(tld, "0123456789") == "" {
		return "", fmt.Errorf("%w: %q is an IP address, not a domain name", ErrBadDomain, d)
	}
	for _, label := range strings.Split(a, ".") {
		if label == "" || len(label) > 63 || strings.HasPrefix(label, "-") || strings.HasSuffix(label, "-") {
			return "", fmt.Errorf("%w: %q", ErrBadDomain, d)
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return "", fmt.Errorf("%w: %q", ErrBadDomain, d)
			}
		}
	}
	return a, nil
}

// CanonicalDomain is the one function that turns a domain name typed by
// an admin or a user (CLI, control socket, web panel, domain login) into
// the name stored: case is ignored and one leading "www." is dropped, as
// the domain login is "always just the domain, without the www"; then
// NormalizeDomain (A-label, no trailing dot, no IP address). Addresses are
// not canonicalised this way: u@www.shop.test is not u@shop.test.
func CanonicalDomain(name string) (string, error) {
	d := strings.TrimSpace(name)
	if len(d) > 4 && strings.EqualFold(d[:4], "www.") {
		d = d[4:]
	}
	return NormalizeDomain(d)
}

// DomainLogin maps a domain login name to its domain: CanonicalDomain.
func DomainLogin(login string) (string, error) {
	return CanonicalDomain(login)
}

// NormalizeAddress returns the canonical form local@domain of an address
// (lower-case local part, A-label domain), or an error for any form the
// rules above refuse.
func NormalizeAddress(addr string) (string, error) {
	local, domain, err := SplitAddress(addr)
	if err != nil {
		return "", err
	}
	return local + "@" + domain, nil
}

// SplitAddress is NormalizeAddress returning the two halves.
func SplitAddress(addr string) (local, domain string, err error) {
	a := strings.TrimSpace(addr)
	if strings.HasPrefix(a, "<") && strings.HasSuffix(a, ">") {
		a = a[1 : len(a)-1]
	}
	if a == "" || len(a) > 254 || strings.HasPrefix(a, "@") {
		return "", "", fmt.Errorf("%w: %q", ErrBadAddress, addr)
	}
	at := strings.LastIndexByte(a, '@')
	if at <= 0 {
		return "", "", fmt.Errorf("%w: %q", ErrBadAddress, addr)
	}
	local, dom := a[:at], a[at+1:]
	if strings.HasPrefix(local, `"`) {
		if len(local) < 2 || !strings.HasSuffix(local, `"`) {
			return "", "", fmt.Errorf("%w: %q", ErrBadAddress, addr)
		}
		local = local[1 : len(local)-1]
	}
	if !isDotAtom(local) || len(local) > 64 {
		return "", "", fmt.Errorf("%w: %q", ErrBadAddress, addr)
	}
	domain, err = NormalizeDomain(dom)
	if err != nil {
		return "", "", fmt.Errorf("%w: %q", ErrBadAddress, addr)
	}
	return asciiLower(local), domain, nil
}

// asciiLower lower-cases A-Z only: local parts fold by ASCII rules.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + ('a' - 'A')
		}
	}
	return string(b)
}

// CanonicalLogin is the one canonical form of a login name, used for the
// password check, the failed-login throttle and the send rule alike: every
// spelling that logs in as the same account maps to the same string. It
// accepts what a login accepts: "admin" in any case; an address in any
// ASCII case, in <>, with a quoted dot-atom local part; a domain in any
// case, Unicode or punycode, with a leading "www.". A name that is none of
// these maps to its trimmed ASCII-lower-cased self (bounded in length), so
// even garbage shares one throttle counter across case variants; ok is
// false then.
func CanonicalLogin(login string) (canonical string, kind Kind, ok bool) {
	l := strings.TrimSpace(login)
	switch {
	case strings.EqualFold(l, AdminLogin):
		return AdminLogin, KindAdmin, true
	case strings.Contains(l, "@"):
		if a, err := NormalizeAddress(l); err == nil {
			return a, KindUser, true
		}
	default:
		if d, err := DomainLogin(l); err == nil {
			return d, KindDomain, true
		}
	}
	if len(l) > 256 {
		l = l[:256]
	}
	return asciiLower(l), KindNone, false
}

// isDotAtom reports whether s is an RFC 5322 dot-atom made of ASCII atext
// (no RFC 6532 UTF-8: SMTPUTF8 is not offered), without the routing
// characters % and ! that old relays interpreted.
func isDotAtom(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("#$&'*+-/=?^_`{|}~.", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// DomainOf returns the canonical domain of an address, or "".
func DomainOf(addr string) string {
	_, d, err := SplitAddress(addr)
	if err != nil {
		return ""
	}
	return d
}

// AddressProblem says in a few words why addr is refused by the rules
// above, or "" when it is a valid address: what a person typing an
// address needs to hear ("routing characters are not allowed in an
// address"), for SendAsError and the web forms.
func AddressProblem(addr string) string {
	if _, err := NormalizeAddress(addr); err == nil {
		return ""
	}
	a := strings.TrimSpace(addr)
	if strings.HasPrefix(a, "<") && strings.HasSuffix(a, ">") {
		a = a[1 : len(a)-1]
	}
	at := strings.LastIndexByte(a, '@')
	local, domain := a, ""
	if at >= 0 {
		local, domain = a[:at], a[at+1:]
	}
	quoted := strings.HasPrefix(local, `"`)
	switch {
	case a == "":
		return "the address is empty"
	case strings.HasPrefix(a, "@") && strings.Contains(a, ":"),
		!quoted && strings.ContainsAny(local, "%!@"):
		return "routing characters are not allowed in an address"
	case at <= 0 || domain == "":
		return "an address needs a name, an @ and a domain"
	case strings.HasPrefix(domain, "["):
		return "address literals ([...]) are not allowed"
	case strings.HasSuffix(domain, "."):
		return "the domain may not end with a dot"
	case quoted:
		return "a quoted name is allowed only when it is a plain name"
	case len(local) > 64 || !isDotAtom(local):
		return "the part before the @ has characters that are not allowed"
	}
	return "the domain is not valid"
}
