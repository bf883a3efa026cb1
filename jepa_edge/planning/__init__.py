"""Planning in latent space: the Planner protocol and PlanResult, CEM, MPPI, energies, latent dynamics, kinematics."""
