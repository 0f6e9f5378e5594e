# Checks that a stage-wise run stopped by its budget (the same path as Ctrl-C:
# checkpoint + exit) and continued with --resume ends with exactly the
# parameters of an uninterrupted run with the same seed.
set(ARGS --model lista-cpss --layers 2 --matrix none --test-signals none --validation-samples 100
         --validate-every 10 --patience 20 --max-steps-per-stage 40 --quiet)
file(REMOVE_RECURSE ${WORK})
function(run)
  execute_process(COMMAND ${PROGRAM} ${ARGS} ${ARGN} RESULT_VARIABLE code OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT code EQUAL 0)
    message(FATAL_ERROR "${PROGRAM} ${ARGN} failed (${code}):\n${out}\n${err}")
  endif()
endfunction()
run(--output ${WORK}/straight)
run(--output ${WORK}/split --budget-steps 55)
if(NOT EXISTS ${WORK}/split/checkpoint.ckpt)
  message(FATAL_ERROR "no checkpoint written when the budget stopped training")
endif()
run(--output ${WORK}/split --resume)
execute_process(COMMAND ${CMAKE_COMMAND} -E compare_files ${WORK}/straight/parameters.npy ${WORK}/split/parameters.npy
                RESULT_VARIABLE differ)
if(differ)
  message(FATAL_ERROR "resumed run ended with different parameters than the uninterrupted run")
endif()
