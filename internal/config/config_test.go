package config

import (
	"strings"
	"testing"
)

// TestTestDeliveryPort: the test hook is an ordinary setting, read from
// AUTHSMTP_TEST_DELIVERY_PORT like every other variable, and a flag wins.
func TestTestDeliveryPort(t *testing.T) {
	c := Default()
	if _, err := c.Parse("serve", nil); err != nil || c.TestDeliveryPort != 0 {
		t.Fatalf("default: %d, %v (want 0: deliver to port 25)", c.TestDeliveryPort, err)
	}
	t.Setenv("AUTHSMTP_TEST_DELIVERY_PORT", "2525")
	c = Default()
	if _, err := c.Parse("serve", nil); err != nil || c.TestDeliveryPort != 2525 {
		t.Errorf("from the environment: %d, %v", c.TestDeliveryPort, err)
	}
	c = Default()
	if _, err := c.Parse("serve", []string{"--test-delivery-port", "2626"}); err != nil || c.TestDeliveryPort != 2626 {
		t.Errorf("the flag over the environment: %d, %v", c.TestDeliveryPort, err)
	}
	t.Setenv("AUTHSMTP_TEST_DELIVERY_PORT", "smtp")
	c = Default()
	if _, err := c.Parse("serve", nil); err == nil || !strings.Contains(err.Error(), "AUTHSMTP_TEST_DELIVERY_PORT") {
		t.Errorf("a bad value: %v, want an error naming the variable", err)
	}
}
