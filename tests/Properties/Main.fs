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
          MesosProperties.mesos
          ChainedProperties.chained
          StatusProperties.status
          GcProperties.gc
          GcOrphanProperties.orphans
          UpgradeProperties.upgrades
          LaneProperties.lanes ]
    |> Suite.run "properties" argv
