package store

import (
	"context"
	"errors"
	"testing"
)

// TestLoginDatabaseGone: when the database does not answer (a shared one
// restarting; here the file closed under the store), a login is refused
// as temporary (ErrUnavailable), not as a wrong password, and it counts
// no failure against the client.
func TestLoginDatabaseGone(t *testing.T) {
	st := authTestStore(t)
	st.AddDomain("doe.com")
	if _, err := st.AddUser("john@doe.com", "Usr-pass-k9W!q"); err != nil {
		t.Fatal(err)
	}
	if err := st.db.Close(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		_, err := st.Login(context.Background(), ProtoIMAP, "192.0.2.1", "john@doe.com", "Usr-pass-k9W!q")
		if !errors.Is(err, ErrUnavailable) || errors.Is(err, ErrBadCredentials) {
			t.Fatalf("login with the database gone: %v, want ErrUnavailable", err)
		}
	}
	if n := st.Throttle.Failures("192.0.2.1"); n != 0 {
		t.Fatalf("%d failures counted while the database was away", n)
	}
}
