package e2e

import (
	"crypto/tls"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"github.com/authsmtp/authsmtp/internal/testutil/pgtest"
)

// pgExec runs a statement as the throwaway cluster's superuser and
// returns the rows it affected (or selected).
func pgExec(t *testing.T, sql string, args ...any) int64 {
	t.Helper()
	return pgtest.Shared(t).Exec(t, sql, args...)
}

// TestClusterRevocationAfterListenerLoss: node 1's LISTEN connection is
// cut (its backend terminated) and held off while a password is changed
// through node 2, so node 1 never hears the notice. Once node 1 listens
// again it checks its sessions against the database: its IMAP and SMTP
// sessions of that login end.
func TestClusterRevocationAfterListenerLoss(t *testing.T) {
	c := newPGCluster(t, 1, nil) // node 2 of this test
	// Node 1 connects as a role of its own, so its reconnection can be
	// held off (NOLOGIN) and its listener told apart.
	role := fmt.Sprintf("gap_node_%d", os.Getpid())
	pgExec(t, "CREATE ROLE "+role+" LOGIN SUPERUSER")
	t.Cleanup(func() { pgExec(t, "DROP ROLE IF EXISTS "+role) })
	url1 := strings.Replace(c.url, "postgres://postgres@", "postgres://"+role+"@", 1)
	n1 := startServeEnv(t, c.bin, t.TempDir(), nil, "--store", url1, "--hostname", "node1.cluster.test", "--imap", "127.0.0.1:0")
	t.Cleanup(func() { n1.kill(); pgExec(t, "ALTER ROLE "+role+" LOGIN") })

	listening := "SELECT 1 FROM pg_stat_activity WHERE usename = $1 AND query ILIKE 'listen%'"
	for deadline := time.Now().Add(30 * time.Second); pgExec(t, listening, role) != 1; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("node 1 is not listening:\n%s", n1.logs())
		}
	}
	ic := imapLogin(t, n1.addr("imap"), nil)
	if _, err := ic.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	sc, err := gosmtp.DialStartTLS(n1.addr("submission"), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	if err := sc.Auth(sasl.NewPlainClient("", clUser, clPW)); err != nil {
		t.Fatal(err)
	}

	pgExec(t, "ALTER ROLE "+role+" NOLOGIN")
	if n := pgExec(t, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1 AND query ILIKE 'listen%'", role); n != 1 {
		t.Fatalf("terminated %d listening backends of node 1, want 1", n)
	}
	if code, _, errOut := c.admin(0, "New-pass-g4P!w-cl\n", "user", "password", clUser); code != 0 {
		t.Fatalf("user password on node 2: %s", errOut)
	}
	time.Sleep(500 * time.Millisecond)
	if err := ic.Noop().Wait(); err != nil {
		t.Fatalf("node 1's IMAP session ended while node 1 could not hear of the change (%v): the test makes no gap", err)
	}
	pgExec(t, "ALTER ROLE "+role+" LOGIN")
	healed := time.Now()
	for ic.Noop().Wait() == nil {
		if time.Since(healed) > 20*time.Second {
			t.Fatalf("node 1's IMAP session lives on 20s after node 1 could listen again:\n%s", n1.logs())
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("node 1's IMAP session ended %s after node 1 could listen again", time.Since(healed))
	if err := sc.Mail(clUser, nil); err == nil {
		t.Fatal("node 1's SMTP session may still send after a password change it missed")
	}
}
