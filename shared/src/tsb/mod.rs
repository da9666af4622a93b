//! What the plugins know about TSB: its names (the layout, overridable with
//! `--layout`), the helm release, the MP's deployments and its front door.

pub mod edge;
pub mod front;
pub mod helm;
pub mod layout;
pub mod mp;
pub mod signing;
