"""Learning on the networks: tasks, readouts (ridge, FORCE/RLS, SGD, GP-regularized SGD),
reservoir runs, selection and pre-training by macro FTLE, learning curves over a sweep."""
