package store

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"unicode"
)

// The password policy, one for every path that sets a password: the CLI
// (domain password, user add, user password, admin password, directly or
// through the control socket), the web panel and webmail, and the store's
// own setters, which check it again so no path can skip it.
//
//   - At least MinPasswordLen characters for a user or the admin, and
//     MinDomainPasswordLen for a domain: a domain login sends as anyone at
//     the domain, so its password is never weaker than a user's.
//   - At most MaxPasswordLen bytes, no line breaks or control characters.
//   - An estimated strength of at least MinPasswordBits (PasswordBits: the
//     page's strength meter uses the same formula).
const (
	MinPasswordLen       = 10
	MinDomainPasswordLen = 12
	MaxPasswordLen       = 512
	MinPasswordBits      = 50
)

// ErrWeakPassword is wrapped by every refusal of the policy.
var ErrWeakPassword = errors.New("password refused")

var commonPasswords = []string{"password", "123456", "qwerty", "letmein", "welcome", "admin", "iloveyou", "monkey", "dragon", "abc123", "passw0rd", "secret"}

// CheckNewPassword applies the policy to a new password for a login of
// kind; login (a domain, an address or "admin") counts against it when
// the password contains it. The error says in one line what is wrong.
func CheckNewPassword(kind Kind, login, pw string) error {
	min := MinPasswordLen
	if kind == KindDomain {
		min = MinDomainPasswordLen
	}
	switch {
	case strings.TrimSpace(pw) == "":
		return ErrEmptyPassword
	case len(pw) > MaxPasswordLen:
		return fmt.Errorf("%w: it is too long (at most %d bytes)", ErrWeakPassword, MaxPasswordLen)
	case strings.IndexFunc(pw, unicode.IsControl) >= 0:
		return fmt.Errorf("%w: it contains a line break or another control character", ErrWeakPassword)
	case len([]rune(pw)) < min && kind == KindDomain:
		return fmt.Errorf("%w: use at least %d characters for a domain password (it sends as anyone at the domain)", ErrWeakPassword, min)
	case len([]rune(pw)) < min:
		return fmt.Errorf("%w: use at least %d characters", ErrWeakPassword, min)
	case PasswordBits(pw, login) < MinPasswordBits:
		return fmt.Errorf("%w: it is too easy to guess: make it longer, mix letters, digits and symbols, and leave out the login name and common words", ErrWeakPassword)
	}
	return nil
}

// PasswordBits estimates a password's strength in bits: length × log2 of
// the character classes used, counting only distinct characters beyond a
// few, less 20 for each common password it contains and 15 for each part
// (3+ letters) of context, the login name, it contains.
func PasswordBits(pw, context string) float64 {
	var lower, upper, digit, other bool
	seen := map[rune]bool{}
	for _, r := range pw {
		seen[r] = true
		switch {
		case unicode.IsLower(r):
			lower = true
		case unicode.IsUpper(r):
			upper = true
		case unicode.IsDigit(r):
			digit = true
		default:
			other = true
		}
	}
	pool := 0
	for _, c := range []struct {
		on bool
		n  int
	}{{lower, 26}, {upper, 26}, {digit, 10}, {other, 33}} {
		if c.on {
			pool += c.n
		}
	}
	if pool == 0 {
		return 0
	}
	n := float64(len([]rune(pw)))
	if d := float64(len(seen)); d*2 < n {
		n = d * 2
	}
	bits := n * math.Log2(float64(pool))
	l := strings.ToLower(pw)
	for _, w := range commonPasswords {
		if strings.Contains(l, w) {
			bits -= 20
		}
	}
	for _, part := range strings.FieldsFunc(strings.ToLower(context), func(r rune) bool { return r == '.' || r == '@' }) {
		if len(part) >= 3 && strings.Contains(l, part) {
			bits -= 15
		}
	}
	return bits
}
