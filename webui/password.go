package webui

import (
	"errors"
	"strings"

	"github.com/authsmtp/authsmtp/store"
)

// minPasswordBits is the store's strength threshold, for the page's meter
// (embed/static: the same formula as store.PasswordBits).
const minPasswordBits = store.MinPasswordBits

// checkNewPassword validates a password typed twice on a form: the two
// must match, then the store's one policy (store.CheckNewPassword) applies,
// the same as for the CLI.
func checkNewPassword(pw, confirm string, kind store.Kind, login string) error {
	switch {
	case pw == "":
		return errors.New("Enter a password.")
	case pw != confirm:
		return errors.New("The two passwords do not match.")
	}
	if err := store.CheckNewPassword(kind, login, pw); err != nil {
		msg := strings.TrimPrefix(err.Error(), store.ErrWeakPassword.Error()+": ")
		return errors.New("Password refused: " + msg + ".")
	}
	return nil
}
