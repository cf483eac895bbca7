package webui

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/authsmtp/authsmtp/store"
	"github.com/authsmtp/authsmtp/store/reports"
)

// reportsData is a domain's Reports tab: the DMARC aggregate and TLS
// reports received at dmarc-reports@ and tls-reports@ (store/reportsin.go).
type reportsData struct {
	D       store.Domain
	Days    int
	Choices []int
	Sum     store.ReportSummary
}

// reportDays are the periods the page offers.
var reportDays = []int{1, 7, 30, 90}

func (s *Server) reportsPage(c *gin.Context) {
	d, ok := s.domainParam(c)
	if !ok {
		return
	}
	days := 7
	if n, err := strconv.Atoi(c.Query("days")); err == nil && n >= 1 && n <= 366 {
		days = n
	}
	sum, err := s.st.SummarizeReports(d.Name, days, time.Now())
	if err != nil {
		s.log.Error("web: reports", "domain", d.Name, "err", err)
		s.errorPage(c, http.StatusInternalServerError, "Could not read the reports.")
		return
	}
	if s.cfg.ReverseName != nil && len(sum.DMARC.Rows) > 0 {
		ctx, cancel := context.WithTimeout(c.Request.Context(), 3*time.Second)
		reports.FillNames(ctx, sum.DMARC.Rows, s.cfg.ReverseName, 50)
		cancel()
	}
	s.render(c, http.StatusOK, "admin_reports", page{Title: "Reports · " + d.Name, Area: "admin", Nav: "domains",
		Data: reportsData{D: d, Days: days, Choices: reportDays, Sum: sum}})
}

// reportMail downloads the mail a report came in, as an attachment.
func (s *Server) reportMail(c *gin.Context) {
	d, ok := s.domainParam(c)
	if !ok {
		return
	}
	id, err := strconv.ParseUint(c.Param("id"), 10, 64)
	if err != nil {
		s.errorPage(c, http.StatusNotFound, "There is no such report.")
		return
	}
	mail, err := s.st.ReportMail(d.Name, id)
	if err != nil {
		s.errorPage(c, http.StatusNotFound, "There is no such report.")
		return
	}
	c.Header("Content-Disposition", fmt.Sprintf(`attachment; filename="report-%d.eml"`, id))
	c.Header("X-Content-Type-Options", "nosniff")
	c.Data(http.StatusOK, "application/octet-stream", mail)
}

// reportTile is a domain's line in the dashboard's reports card.
type reportTile struct {
	Domain            string
	Reports, Messages int64
	Failing           int64
	PassRate          int // per cent of messages aligned
	TLSOK, TLSFailed  int64
}

// reportTiles sums up the last 7 days of reports of each domain that has some.
func (s *Server) reportTiles(doms []store.Domain) []reportTile {
	var out []reportTile
	for _, d := range doms {
		sum, err := s.st.SummarizeReports(d.Name, 7, time.Now())
		if err != nil || len(sum.List) == 0 {
			continue
		}
		t := reportTile{Domain: d.Name, Reports: int64(len(sum.List)), Messages: sum.DMARC.Messages, Failing: sum.DMARC.Failing}
		if t.Messages > 0 {
			t.PassRate = int(sum.DMARC.Passing * 100 / t.Messages)
		}
		for _, r := range sum.TLS {
			t.TLSOK += r.Successful
			t.TLSFailed += r.Failed
		}
		out = append(out, t)
	}
	return out
}
