package smtp

import (
	"bytes"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"github.com/authsmtp/authsmtp/store"
)

// Our own SASL servers instead of go-sasl's: malformed input must get a
// 501 (go-sasl's plain errors become go-smtp's generic 454), and the
// authorization identity of PLAIN must equal the authentication identity
// (maddy's CVE-2023-27582 trusted it).

// authFunc checks a login and password; it returns a *gosmtp.SMTPError.
type authFunc func(login, password string) error

var errMalformedPlain = smtpErr(501, gosmtp.EnhancedCode{5, 5, 2}, "malformed AUTH PLAIN response: expected base64 of authzid NUL login NUL password")

// plainServer implements RFC 4616 PLAIN.
type plainServer struct {
	auth authFunc
	done bool
}

var _ sasl.Server = (*plainServer)(nil)

func (s *plainServer) Next(resp []byte) ([]byte, bool, error) {
	if s.done {
		return nil, true, errMalformedPlain
	}
	if resp == nil {
		// No initial response: ask for it with an empty challenge.
		return []byte{}, false, nil
	}
	s.done = true
	parts := bytes.Split(resp, []byte{0})
	if len(parts) != 3 || len(parts[1]) == 0 || len(parts[2]) == 0 {
		return nil, false, errMalformedPlain
	}
	authzid, authcid, pw := string(parts[0]), string(parts[1]), string(parts[2])
	// The identity is always the authentication identity: acting as
	// someone else is never allowed, so a different authzid is refused.
	if authzid != "" && !sameLogin(authzid, authcid) {
		return nil, false, smtpErr(535, gosmtp.EnhancedCode{5, 7, 8}, "authorization identity must be empty or the same as the login")
	}
	if err := s.auth(authcid, pw); err != nil {
		return nil, false, err
	}
	return nil, true, nil
}

// loginServer implements the obsolete but common LOGIN mechanism
// (draft-murchison-sasl-login): "Username:", then "Password:".
type loginServer struct {
	auth  authFunc
	step  int
	login string
}

var _ sasl.Server = (*loginServer)(nil)

func (s *loginServer) Next(resp []byte) ([]byte, bool, error) {
	switch s.step {
	case 0:
		s.step = 1
		if resp == nil {
			return []byte("Username:"), false, nil
		}
		fallthrough
	case 1:
		if len(resp) == 0 {
			return nil, false, smtpErr(501, gosmtp.EnhancedCode{5, 5, 2}, "malformed AUTH LOGIN: empty login")
		}
		s.login = string(resp)
		s.step = 2
		return []byte("Password:"), false, nil
	case 2:
		s.step = 3
		if len(resp) == 0 {
			return nil, false, smtpErr(501, gosmtp.EnhancedCode{5, 5, 2}, "malformed AUTH LOGIN: empty password")
		}
		if err := s.auth(s.login, string(resp)); err != nil {
			return nil, false, err
		}
		return nil, true, nil
	}
	return nil, false, smtpErr(501, gosmtp.EnhancedCode{5, 5, 2}, "malformed AUTH LOGIN")
}

// sameLogin reports whether two login names name the same login (an
// authzid may repeat the login in another spelling), by the store's one
// canonical form: no Unicode case folding.
func sameLogin(a, b string) bool {
	ca, _, _ := store.CanonicalLogin(a)
	cb, _, _ := store.CanonicalLogin(b)
	return ca == cb
}
