/// The header every property file shares: a property checked on a given number of cases
/// (250 unless the file says otherwise).
module Dcos.L4lb.Tests.PropertyTest

open Expecto

/// A property checked on `cases` generated inputs; PROPERTY_SCALE=k runs k times as many.
let propertyWith (cases: int) (name: string) body =
    testPropertyWithConfig { FsCheckConfig.defaultConfig with maxTest = Generators.scaled cases } name body

/// A property checked on 250 generated inputs.
let property name body = propertyWith 250 name body
