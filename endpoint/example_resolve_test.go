package endpoint_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/diracgo/diracrpc/endpoint"
	"github.com/diracgo/diracrpc/endpoint/cfg"
)

// Resolving a service name as DIRAC's PathFinder does: setup, system
// instance, URLs with $MAINSERVERS$ expanded, failover URLs after them.
func ExampleResolver_Resolve() {
	conf := cfg.MustParse(`
DIRAC
{
  Setup = Production
  Setups
  {
    Production
    {
      WorkloadManagement = Production
    }
  }
}
Operations
{
  Defaults
  {
    MainServers = wms1.example.org, wms2.example.org
  }
}
Systems
{
  WorkloadManagement
  {
    Production
    {
      URLs
      {
        JobMonitoring = dips://$MAINSERVERS$:9130/WorkloadManagement/JobMonitoring
        JobManager = https://wms.example.org
      }
      FailoverURLs
      {
        JobMonitoring = dips://backup.example.org:9130
      }
    }
  }
}
`)
	r := &endpoint.Resolver{
		Source:  endpoint.Static(conf),
		Shuffle: func([]string) {}, // keep the order, for the example's output
	}
	ctx := context.Background()
	res, err := r.Resolve(ctx, "WorkloadManagement/JobMonitoring")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Main)
	fmt.Println(res.Failover)

	res, err = r.Resolve(ctx, "WorkloadManagement/JobManager")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Main)

	_, err = r.Resolve(ctx, "WorkloadManagement/Matcher")
	var re *endpoint.ResolveError
	if errors.As(err, &re) {
		fmt.Println("missing:", re.Path)
	}
	// Output:
	// [dips://wms1.example.org:9130/WorkloadManagement/JobMonitoring dips://wms2.example.org:9130/WorkloadManagement/JobMonitoring]
	// [dips://backup.example.org:9130/WorkloadManagement/JobMonitoring]
	// [https://wms.example.org:443/WorkloadManagement/JobManager]
	// missing: /Systems/WorkloadManagement/Production/URLs/Matcher
}
