package webui

import (
	"errors"
	"math"
	"strings"
	"unicode"
)

// minPasswordBits is the least estimated strength a new password needs.
// The estimate is deliberately simple (length × log2 of the character
// classes used, with penalties for repeats and the login's own name); the
// page's meter uses the same formula so the two agree.
const minPasswordBits = 50

var commonPasswords = []string{"password", "123456", "qwerty", "letmein", "welcome", "admin", "iloveyou", "monkey", "dragon", "abc123", "passw0rd", "secret"}

// passwordBits estimates a password's strength in bits.
func passwordBits(pw, context string) float64 {
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
	// Count only distinct characters beyond a few: "aaaaaaaaaaaa" is weak.
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
	if context != "" {
		for _, part := range strings.FieldsFunc(strings.ToLower(context), func(r rune) bool { return r == '.' || r == '@' }) {
			if len(part) >= 3 && strings.Contains(l, part) {
				bits -= 15
			}
		}
	}
	return bits
}

// checkNewPassword validates a password typed twice on a form.
func checkNewPassword(pw, confirm, context string) error {
	switch {
	case pw == "":
		return errors.New("Enter a password.")
	case pw != confirm:
		return errors.New("The two passwords do not match.")
	case len(pw) > 512:
		return errors.New("That password is too long (512 characters at most).")
	case hasCRLF(pw):
		return errors.New("A password cannot contain line breaks.")
	case len([]rune(pw)) < 10:
		return errors.New("Use at least 10 characters.")
	case passwordBits(pw, context) < minPasswordBits:
		return errors.New("That password is too easy to guess: make it longer, mix letters, digits and symbols, or use Generate.")
	}
	return nil
}
