// Package mtasts writes and reads MTA-STS policy files (RFC 8461 §3.2):
// the server publishes one per hosted domain, and Parse is the strict
// reader used on every policy: ours in tests and `domain dns --check`,
// other domains' in outbound delivery. Fetch gets one over HTTPS.
package mtasts

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
)

// Modes of a policy (RFC 8461 §5).
const (
	ModeNone    = "none"
	ModeTesting = "testing"
	ModeEnforce = "enforce"
)

// DefaultMode is the mode of a domain that has not chosen one: testing
// never blocks delivery, yet senders start sending TLS reports, the
// evidence needed before moving to enforce.
const DefaultMode = ModeTesting

// MaxSize bounds a policy file; real ones are a few hundred bytes.
const MaxSize = 64 << 10

// Policy is one policy file.
type Policy struct {
	Mode   string
	MX     []string
	MaxAge int // seconds
}

// ValidMode says whether m is none, testing or enforce.
func ValidMode(m string) bool {
	return m == ModeNone || m == ModeTesting || m == ModeEnforce
}

// For is the policy the server publishes for a domain whose mail goes to
// mx: enforce is cached for a week, the others for a day so a move to
// enforce (or back) takes effect soon.
func For(mode, mx string) Policy {
	if mode == "" {
		mode = DefaultMode
	}
	age := 86400
	if mode == ModeEnforce {
		age = 604800
	}
	return Policy{Mode: mode, MX: []string{strings.TrimSuffix(mx, ".")}, MaxAge: age}
}

// Text is the policy file, CRLF-terminated lines as in RFC 8461's example.
func (p Policy) Text() string {
	var b strings.Builder
	b.WriteString("version: STSv1\r\nmode: " + p.Mode + "\r\n")
	for _, mx := range p.MX {
		b.WriteString("mx: " + mx + "\r\n")
	}
	b.WriteString("max_age: " + strconv.Itoa(p.MaxAge) + "\r\n")
	return b.String()
}

// ID is the policy id published in the _mta-sts TXT record: it changes
// whenever the policy text does (RFC 8461 §3.1: 1-32 alphanumerics).
func (p Policy) ID() string {
	sum := sha256.Sum256([]byte(p.Text()))
	return hex.EncodeToString(sum[:10])
}

// TXT is the value of the _mta-sts.<domain> record.
func (p Policy) TXT() string { return "v=STSv1; id=" + p.ID() }

// Parse reads a policy file strictly: version STSv1 first, exactly one
// mode and max_age, at least one mx unless the mode is none, valid mx
// patterns, no line without a colon. Unknown keys are ignored as RFC 8461
// §3.2 requires of future extensions.
func Parse(text string) (Policy, error) {
	var p Policy
	if len(text) > MaxSize {
		return p, errors.New("mta-sts: policy too large")
	}
	text = strings.TrimSuffix(strings.ReplaceAll(text, "\r\n", "\n"), "\n")
	seen := map[string]bool{}
	for i, line := range strings.Split(text, "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			return p, fmt.Errorf("mta-sts: line %d has no key", i+1)
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if i == 0 && (k != "version" || v != "STSv1") {
			return p, fmt.Errorf("mta-sts: first line is not version: STSv1")
		}
		if k != "mx" && seen[k] {
			return p, fmt.Errorf("mta-sts: %s repeated", k)
		}
		seen[k] = true
		switch k {
		case "mode":
			if !ValidMode(v) {
				return p, fmt.Errorf("mta-sts: bad mode %q", v)
			}
			p.Mode = v
		case "mx":
			if !validMX(v) {
				return p, fmt.Errorf("mta-sts: bad mx %q", v)
			}
			p.MX = append(p.MX, v)
		case "max_age":
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || n > 31557600 || len(v) > 10 || v[0] == '+' {
				return p, fmt.Errorf("mta-sts: bad max_age %q", v)
			}
			p.MaxAge = n
		}
	}
	switch {
	case p.Mode == "":
		return p, errors.New("mta-sts: no mode")
	case !seen["max_age"]:
		return p, errors.New("mta-sts: no max_age")
	case p.Mode != ModeNone && len(p.MX) == 0:
		return p, errors.New("mta-sts: no mx")
	}
	return p, nil
}

// validMX accepts a host name or a "*." wildcard of one (RFC 8461 §3.2).
func validMX(v string) bool {
	v = strings.TrimPrefix(v, "*.")
	if v == "" || len(v) > 253 {
		return false
	}
	for _, label := range strings.Split(v, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// Matches reports whether an MX host name fits one of the policy's mx
// patterns: the same name, or "*.example.com" matching exactly one more
// label on the left (RFC 8461 §4.1).
func (p Policy) Matches(host string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for _, m := range p.MX {
		m = strings.ToLower(m)
		if m == host {
			return true
		}
		if rest, ok := strings.CutPrefix(m, "*."); ok {
			if i := strings.IndexByte(host, '.'); i > 0 && host[i+1:] == rest {
				return true
			}
		}
	}
	return false
}

// InvalidError is a policy that was fetched but does not parse (TLSRPT's
// sts-policy-invalid, as opposed to sts-policy-fetch-error).
type InvalidError struct{ Err error }

func (e *InvalidError) Error() string { return e.Err.Error() }
func (e *InvalidError) Unwrap() error { return e.Err }

// URL is where the policy of domain is published (§3.3).
func URL(domain string) string {
	return "https://mta-sts." + domain + "/.well-known/mta-sts.txt"
}

// Fetch gets the policy of domain with client, which must verify the
// server's certificate for mta-sts.<domain> (WebPKI, §3.3); redirects are
// refused and the body is bounded. A policy that does not parse is an
// *InvalidError.
func Fetch(ctx context.Context, client *http.Client, domain string) (Policy, string, error) {
	c := *client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	req, err := http.NewRequestWithContext(ctx, "GET", URL(domain), nil)
	if err != nil {
		return Policy{}, "", err
	}
	resp, err := c.Do(req)
	if err != nil {
		return Policy{}, "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return Policy{}, "", fmt.Errorf("%s: HTTP %s", URL(domain), resp.Status)
	}
	if ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); ct != "" && ct != "text/plain" {
		return Policy{}, "", &InvalidError{fmt.Errorf("%s: media type %q, want text/plain", URL(domain), ct)}
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxSize+1))
	if err != nil {
		return Policy{}, "", err
	}
	p, err := Parse(string(body))
	if err != nil {
		return p, string(body), &InvalidError{err}
	}
	return p, string(body), nil
}
