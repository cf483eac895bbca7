package webui

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/authsmtp/authsmtp/internal/mailtest"
	"github.com/authsmtp/authsmtp/store/reports"
)

// TestReportsTab: the Reports tab escapes what reporters wrote, offers
// the report mail only as an attachment download, and needs the admin.
func TestReportsTab(t *testing.T) {
	e := newEnv(t)
	xml := mailtest.ReportSample(t, "yahoo.xml", testDom, time.Now().AddDate(0, 0, -1))
	xml = strings.Replace(xml, "<org_name>Yahoo</org_name>", `<org_name>"&gt;&lt;img src=x onerror=alert(1)&gt;</org_name>`, 1)
	mail := mailtest.YahooDMARCMail("dmarc-reports@"+testDom, testDom, xml)
	f, err := reports.Extract(mail, "", reports.Limits{})
	must(t, err)
	id, _, err := e.st.AddReport(testDom, f, "r@yahoo.test", mail, time.Now())
	must(t, err)

	anon := e.client()
	resp, _ := anon.get("/admin/domains/" + testDom + "/reports")
	if resp.StatusCode == http.StatusOK {
		t.Fatal("reports page served without a login")
	}
	c := e.client()
	c.login("admin", "admin", adminPW)
	resp, page := c.get("/admin/domains/" + testDom + "/reports?days=30")
	wantStatus(t, "reports page", resp, http.StatusOK)
	if strings.Contains(page, "<img src=x") || !strings.Contains(page, "&#34;&gt;&lt;img src=x") {
		t.Fatal("the reporter's name is not escaped")
	}
	if !strings.Contains(page, "192.0.2.25") {
		t.Fatal("the source is not listed")
	}
	resp, body := c.get(fmt.Sprintf("/admin/domains/%s/reports/%d/mail", testDom, id))
	wantStatus(t, "report mail", resp, http.StatusOK)
	if cd := resp.Header.Get("Content-Disposition"); !strings.HasPrefix(cd, "attachment;") || resp.Header.Get("Content-Type") != "application/octet-stream" || body != string(mail) {
		t.Fatalf("download: %q %q, %d bytes", cd, resp.Header.Get("Content-Type"), len(body))
	}
	for _, bad := range []string{"/reports/999/mail", "/reports/x/mail"} {
		resp, _ := c.get("/admin/domains/" + testDom + bad)
		wantStatus(t, bad, resp, http.StatusNotFound)
	}
	resp, _ = c.get("/admin/domains/nowhere.test/reports")
	wantStatus(t, "unknown domain", resp, http.StatusNotFound)
}
