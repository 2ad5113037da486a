module Dcos.L4lb.Tests.Main

open Expecto

[<EntryPoint>]
let main argv =
    testList
        "core"
        [ ConfigProperties.parsing
          ConfigProperties.merge
          ConfigProperties.names
          Examples.configs
          Examples.environment
          Examples.protocol
          Examples.addresses
          PlanProperties.addDel
          RollbackProperties.rollback
          PlanProperties.check
          PlanProperties.concurrency
          NegotiationProperties.negotiation
          PlanProperties.examples
          SpartanDnsProperties.dns
          ChainedProperties.chained
          StatusProperties.status
          GcProperties.gc
          GcOrphanProperties.orphans
          UpgradeProperties.upgrades
          LaneProperties.lanes
          MissingPluginProperties.tests
          LogProperties.validation
          LogProperties.settings
          LogProperties.lines ]
    |> Suite.run "properties" argv
