// Command nomnom is the nomnom platform's binary: gateway, migrations,
// dead-letter tools and the code generator. See 'nomnom help'.
package main

import (
	"os"

	"github.com/nomnom-io/nomnom/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:]))
}
