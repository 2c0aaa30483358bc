//! The directory as the developer sees it: the projection of provider records under the
//! environment's inactive-user policy, and the events that describe each change.
