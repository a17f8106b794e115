-- Argo CD health of an Application (the app-of-apps in root-app.yaml): the child's own health.
-- Argo CD >= 1.8 ships no health check for Applications, so an app-of-apps treats every child as
-- Healthy at once and sync waves between children do not wait. With this check, wave 1 (the
-- ParentModel) starts only once wave 0 (the operator chart and its CRDs) is Healthy.
local health = nil
if type(obj.status) == "table" and type(obj.status.health) == "table" then
  health = obj.status.health
end
if health == nil or type(health.status) ~= "string" or health.status == "" then
  return { status = "Progressing", message = "waiting for the Application's health" }
end
local message = ""
if type(health.message) == "string" then
  message = health.message
end
return { status = health.status, message = message }
