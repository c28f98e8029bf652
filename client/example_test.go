package client_test

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/nomnom-io/nomnom/client"
)

func Example() {
	base, stop := startExampleGateway()
	defer stop()
	c, err := client.New(base, client.WithAPIKey("k1"))
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	acc, err := c.Send(ctx, map[string]any{"order_id": 42}, client.SendOptions{IdempotencyKey: "order-42"})
	if err != nil {
		panic(err)
	}
	again, _ := c.Send(ctx, map[string]any{"order_id": 42}, client.SendOptions{IdempotencyKey: "order-42"})
	rec, _ := c.Status(ctx, acc.MessageID)
	fmt.Println(acc.Status, again.Duplicate, again.MessageID == acc.MessageID, rec.Status)
	// Output: accepted true true accepted
}

func ExampleClient_SendBatch() {
	base, stop := startExampleGateway()
	defer stop()
	c, _ := client.New(base, client.WithAPIKey("k1"))
	res, err := c.SendBatch(context.Background(), strings.NewReader("{\"n\":1}\n{oops\n{\"n\":2}\n"), client.BatchOptions{})
	if err != nil {
		panic(err)
	}
	fmt.Println(res.Status, res.Inserted, res.Failed)
	for _, r := range res.Results {
		fmt.Println(r.Line, r.Accepted())
	}
	// Output:
	// partial 2 1
	// 1 true
	// 2 false
	// 3 true
}

func ExampleError() {
	base, stop := startExampleGateway()
	defer stop()
	c, _ := client.New(base) // no API key
	_, err := c.Send(context.Background(), []byte(`{"n":1}`), client.SendOptions{})
	var apiErr *client.Error
	fmt.Println(errors.Is(err, client.ErrUnauthorized), errors.As(err, &apiErr) && apiErr.Code == "unauthorized")
	// Output: true true
}
