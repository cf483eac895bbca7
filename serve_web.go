package main

import "context"

// startWeb starts this service and registers its shutdown with srv.onStop.
// (Not built yet.)
func (srv *server) startWeb(ctx context.Context) error { return nil }
