package queue

import (
	"github.com/authsmtp/authsmtp/internal/metrics"
	"github.com/authsmtp/authsmtp/store"
)

// deliveryResult names a recipient's outcome for the metrics.
func deliveryResult(status string) string {
	switch status {
	case store.RcptSent:
		return metrics.DeliveryOK
	case store.RcptFailed:
		return metrics.DeliveryPermFail
	}
	return metrics.DeliveryTempFail
}
