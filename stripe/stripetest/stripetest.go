// Package stripetest makes Stripe events as Stripe sends and signs them, for tests of
// what receives them.
package stripetest

import (
	"encoding/json"
	"time"

	stripe "github.com/stripe/stripe-go/v85"
	"github.com/stripe/stripe-go/v85/webhook"
)

// Event returns a Stripe event of typ around object, of the API version Lobby reads.
func Event(id, typ string, object map[string]any) []byte {
	b, err := json.Marshal(map[string]any{"id": id, "object": "event", "type": typ, "api_version": stripe.APIVersion,
		"created": 1767225600, "livemode": false, "data": map[string]any{"object": object}})
	if err != nil {
		panic(err)
	}
	return b
}

// Sign returns the Stripe-Signature header of payload, signed at t with secret.
func Sign(payload []byte, secret string, at time.Time) string {
	return webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: payload, Secret: secret, Timestamp: at}).Header
}
