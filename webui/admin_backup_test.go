package webui

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/authsmtp/authsmtp/store"
)

// TestAdminBackupDownload: the admin downloads a backup from the panel;
// the file is a sound database with the domain and user in it. A user
// login and a visitor get none.
func TestAdminBackupDownload(t *testing.T) {
	e := newEnv(t)
	anon := e.client()
	resp, body := anon.get("/admin/backup")
	if resp.StatusCode == http.StatusOK || strings.HasPrefix(body, "\xd0") {
		t.Fatalf("backup without login: %d", resp.StatusCode)
	}
	user := e.client()
	user.login("mail", testUser, userPW)
	if resp, _ := user.get("/admin/backup"); resp.StatusCode == http.StatusOK {
		t.Fatal("a user login downloaded the backup")
	}
	admin := e.client()
	admin.login("admin", store.AdminLogin, adminPW)
	_, dash := admin.get("/admin/")
	if !strings.Contains(dash, `href="/admin/backup"`) {
		t.Error("dashboard has no backup link")
	}
	resp, body = admin.get("/admin/backup")
	wantStatus(t, "backup", resp, http.StatusOK)
	if cd := resp.Header.Get("Content-Disposition"); !strings.HasPrefix(cd, `attachment; filename="authsmtp-`) {
		t.Fatalf("Content-Disposition %q", cd)
	}
	f := filepath.Join(t.TempDir(), "b.db")
	os.WriteFile(f, []byte(body), 0o600)
	info, err := store.CheckBackup(f)
	if err != nil || info.Domains != 1 || info.Users != 1 {
		t.Fatalf("downloaded backup: %+v %v", info, err)
	}
}

// The webmail password page offers the Apple profile for the login.
func TestAppleProfileLink(t *testing.T) {
	e := newEnv(t)
	u := e.client()
	u.login("mail", testUser, userPW)
	_, body := u.get("/mail/password")
	if !strings.Contains(body, `href="/.well-known/autoconfig/apple.mobileconfig?emailaddress=john%40doe.test"`) {
		t.Fatalf("no profile link:\n%s", body)
	}
}
