package smtpbridge

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Error returns an error that reaches the dispatcher with this gRPC status code, e.g.
// smtpbridge.Error(codes.Unavailable, "backend down"). Any error a handler returns makes the
// dispatcher apply the binding's on_error; the code shows up in its metrics and logs.
func Error(code codes.Code, format string, args ...any) error {
	return status.Errorf(code, format, args...)
}

// toStatus maps a handler error onto the gRPC status the dispatcher sees: the status the error
// carries (anywhere in its chain), the context's own code, or INTERNAL.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	var carrier interface{ GRPCStatus() *status.Status }
	if errors.As(err, &carrier) {
		if st := carrier.GRPCStatus(); st != nil && st.Code() != codes.OK {
			return st.Err()
		}
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, err.Error())
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, err.Error())
	}
	return status.Error(codes.Internal, err.Error())
}

// panicError turns a recovered handler panic into an error, so one bad event cannot take the
// whole worker down.
func panicError(recovered any) error {
	return fmt.Errorf("smtpbridge: handler panicked: %v", recovered)
}
