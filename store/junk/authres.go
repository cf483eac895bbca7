package junk

import "strings"

// ARMethod is the Authentication-Results method (RFC 8601 §2.7.6: not
// registered, so "x-" and ignored by readers that do not know it) under
// which the MX writes a recipient's junk verdict: spam, ham or none, with
// the score and the model as "policy" properties, e.g.
//
//	Authentication-Results: mx.example.org; x-authsmtp-junk=spam
//		policy.score=0.991 policy.model=user
//
// The verdict is per recipient, so it has a field of its own on top of
// that recipient's copy; the server's shared field (SPF, DKIM, DMARC)
// stays as it is. Fields from outside are all removed on the way in.
const ARMethod = "x-authsmtp-junk"

// VerdictOnly tells whether an Authentication-Results value carries no
// result but ARMethod ones: our own verdict field, which the tokenizer
// skips.
func VerdictOnly(v string) bool {
	parts := strings.Split(v, ";")
	found := false
	for _, p := range parts[1:] {
		f := strings.Fields(strings.ToLower(p))
		if len(f) == 0 {
			continue
		}
		method, _, _ := strings.Cut(f[0], "=")
		if method != ARMethod {
			return false
		}
		found = true
	}
	return found
}
